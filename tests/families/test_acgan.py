"""AC-GAN: the auxiliary class head exists, its loss is in both steps, and it moves the weights."""
import torch
import torch.nn.functional as F

from tests.families.conftest import build


def _batch(family, G, seed=0):
    gen = torch.Generator().manual_seed(seed)
    reals = torch.rand(8, 1, 16, 16, generator=gen) * 2 - 1
    real_labels = torch.randint(0, 10, (8,), generator=gen)
    latent = family.sample_latent(8, G.noise_dim, torch.device("cpu"), gen)
    return reals, real_labels, latent, gen


def test_aux_head_is_attached_and_trained_by_d():
    family, G, D = build("acgan")
    assert D.heads["aux"].out_features == 10
    head = {id(p) for p in D.heads["aux"].parameters()}
    d_params = family.d_parameters(G, D)
    assert head <= {id(p) for p in d_params} and len(d_params) == len({id(p) for p in d_params})
    assert not head & {id(p) for p in family.g_parameters(G, D)}


def test_d_loss_is_adversarial_plus_class_cross_entropy_on_reals_and_fakes():
    family, G, D = build("acgan")
    reals, real_labels, latent, gen = _batch(family, G)
    fakes = family.generate(G, latent).detach()
    D.eval()  # fixed BatchNorm statistics: the hand computation sees the same outputs
    loss, stats = family.d_loss(D, reals, real_labels, fakes, latent, gen)
    feats_r, feats_f = D.features(reals), D.features(fakes)
    adv = (F.softplus(-D.logit(feats_r)).mean() + F.softplus(D.logit(feats_f)).mean())
    ce_real = F.cross_entropy(D.heads["aux"](feats_r), real_labels)
    ce_fake = F.cross_entropy(D.heads["aux"](feats_f), latent.labels)
    torch.testing.assert_close(loss, adv + ce_real + ce_fake)
    torch.testing.assert_close(stats["d_aux"], (ce_real + ce_fake).detach())
    accuracy = (D.heads["aux"](feats_r).argmax(1) == real_labels).float().mean()
    torch.testing.assert_close(stats["cls_acc"], accuracy)
    loss.backward()
    assert D.heads["aux"].weight.grad.abs().sum() > 0


def test_generator_gradient_includes_the_class_term():
    grads = {}
    for weight in (0.0, 1.0):
        family, G, D = build("acgan", f"family.aux_weight={weight}")
        D.eval()
        _, _, latent, _ = _batch(family, G)
        loss, stats = family.g_loss(D, family.generate(G, latent), latent)
        G.zero_grad()
        loss.backward()
        grads[weight] = torch.cat([p.grad.flatten() for p in G.parameters()])
        if weight == 1.0:
            torch.testing.assert_close(loss, stats["g_adv"] + stats["g_aux"])
            G.zero_grad()
            fakes = family.generate(G, latent)
            F.cross_entropy(D.heads["aux"](D.features(fakes)), latent.labels).backward()
            aux_only = torch.cat([p.grad.flatten() for p in G.parameters()])
    # Same seed, same models: the difference of the two gradients is exactly the class term's.
    assert aux_only.abs().max() > 1e-6
    torch.testing.assert_close(grads[1.0] - grads[0.0], aux_only, rtol=1e-4, atol=1e-7)


def test_aux_on_fakes_false_leaves_generated_images_out_of_ds_class_loss():
    family, G, D = build("acgan", "family.aux_on_fakes=false")
    reals, real_labels, latent, gen = _batch(family, G)
    fakes = family.generate(G, latent).detach()
    D.eval()
    loss, stats = family.d_loss(D, reals, real_labels, fakes, latent, gen)
    torch.testing.assert_close(stats["d_aux"], F.cross_entropy(D.heads["aux"](D.features(reals)), real_labels))
    torch.testing.assert_close(loss, stats["d_adv"] + stats["d_aux"])

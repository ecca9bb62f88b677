"""Training curves: the figures follow the keys in metrics.jsonl, and the explorer's copy is
redrawn when the log grows."""
import json

from PIL import Image

from ganforge.cli import main
from ganforge.explore.curves import LivePlots, curve_figures, write_training_plots


def _write(run, records, mode="w"):
    run.mkdir(exist_ok=True)
    with open(run / "metrics.jsonl", mode) as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def _training(step, **extra):
    return {"step": step, "images_seen": 16 * step, "img_per_s": 100.0, "d_loss": 1.0 / step,
            "g_loss": 0.5, "d_real": 0.7, "d_fake": 0.3, "time": 1.0, **extra}


def test_figures_follow_the_logged_keys(tmp_path):
    run = tmp_path / "run"
    _write(run, [_training(s, k=0.01 * s, m_global=1.0 / s, stage=s // 4, alpha=0.5, aug_p=0.1,
                           gp=0.2, mi_cat=0.3, my_stat=2.0) for s in range(1, 9)]
           + [{"step": 4, "event": "rollback", "lr_scale": 0.5}]
           + [{"step": 8, "eval/fid": 10.0, "eval/kid": 0.2, "eval/kid_std": 0.01,
               "eval/baseline_fid": 1.0, "eval/best_fid": 10.0, "eval/n": 64,
               "eval/extractor": "classifier:x"}])
    figures = curve_figures(run)
    assert list(figures) == ["losses", "discriminator", "began", "growth", "augmentation", "speed",
                             "eval", "other"]
    titles = {name: [p.title for p in panels] for name, panels in figures.items()}
    assert titles["losses"] == ["losses", "loss terms"]
    assert [s.label for s in figures["losses"][1].series] == ["gp", "mi_cat"]
    assert figures["losses"][0].marks == [4.0]  # the rollback
    assert titles["began"] == ["k_t (equilibrium control)", "M_global (convergence)"]
    resolution = figures["growth"][0].series[0]
    assert resolution.y == [4.0, 4.0, 4.0, 8.0, 8.0, 8.0, 8.0, 16.0]  # 4 * 2^stage
    fid, kid = figures["eval"]
    assert [(s.label, s.dashed) for s in fid.series] == [("fid", False), ("real vs real", True),
                                                         ("best so far", True)]
    assert kid.title == "KID" and kid.series[0].spread == [0.01]
    assert titles["other"] == ["my_stat"]
    paths = write_training_plots(run)
    assert sorted(p.name for p in paths) == sorted(f"{n}.png" for n in figures)
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width > 300


def test_a_plain_gan_gets_no_family_figures(tmp_path):
    _write(tmp_path / "run", [_training(s) for s in (1, 2)])
    assert list(curve_figures(tmp_path / "run")) == ["losses", "discriminator", "speed"]


def test_plot_command(tmp_path, capsys):
    _write(tmp_path / "run", [_training(s) for s in (1, 2)])
    assert main(["plot", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "plots" / "losses.png").is_file()
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_live_plots_redraw_only_when_the_log_grows(tmp_path):
    run = tmp_path / "run"
    _write(run, [_training(1)])
    live = LivePlots(run)
    version, names = live.current()
    assert version == 1 and "eval" not in names
    drawn = (run / "plots" / "losses.png").stat().st_mtime_ns
    assert live.current() == (1, names) and (run / "plots" / "losses.png").stat().st_mtime_ns == drawn
    _write(run, [{"step": 1, "eval/fid": 3.0}], mode="a")
    version, names = live.current()
    assert version == 2 and "eval" in names
    assert live.path("eval") == run / "plots" / "eval.png"
    assert live.path("../config") is None


def test_a_long_title_stays_inside_a_one_panel_figure():
    """`ganforge plot`'s eval figure has one panel and a title naming the run and the extractor's
    path: it is broken into lines instead of running off both edges."""
    from ganforge.explore.plotting import Panel, Series, figure
    title = "began+folded-15k-traj-s0: periodic evaluation (features: classifier:runs/benchmarks/classifier-mnist (acc 0.978))"
    fig = figure([Panel("FID", [Series("fid", [1.0, 2.0], [3.0, 2.0])])], title=title)
    fig.canvas.draw()
    box, page = fig._suptitle.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and box.y1 <= page.y1, (box, page)
    assert "".join(fig._suptitle.get_text().split()) == "".join(title.split())  # nothing lost

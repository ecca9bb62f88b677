// ganforge explorer: talks to the JSON API of `ganforge explore` (see ganforge/explore/server.py).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { runs: [], run: null, a: null, b: null, groups: { a: [], b: [], c: [] }, seq: 0 };

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function runPath(op) { return `/api/runs/${state.run.index}/${op}`; }

// ---------------------------------------------------------------- the current view settings
function view() {
  const t = parseFloat($("truncation").value);
  const out = { truncation: t > 0 ? t : null };
  if (state.run.conditional && $("label").value !== "") out.label = parseInt($("label").value, 10);
  const codes = {};
  for (const code of state.run.codes) {
    if (code.kind === "categorical") {
      const v = $(`code-${code.name}`).value;
      if (v !== "") codes[code.name] = parseInt(v, 10);
    } else if ($(`code-${code.name}-on`).checked) {
      codes[code.name] = [...Array(code.size).keys()].map((i) => parseFloat($(`code-${code.name}-${i}`).value));
    }
  }
  if (Object.keys(codes).length) out.codes = codes;
  const moves = {};
  for (const d of state.run.directions) {
    const v = parseFloat($(`dir-${d.id}`).value);
    if (v !== 0) moves[d.id] = v;
  }
  if (Object.keys(moves).length) out.directions = moves;
  return out;
}

function pickOf(seed, label) { return { seed, label: label === undefined ? null : label }; }

function thumb(pick) {
  const img = document.createElement("img");
  img.src = pick.src;
  img.alt = `seed ${pick.seed}`;
  img.title = `seed ${pick.seed}` + (pick.shown === null ? "" : `, class ${pick.shown}`);
  return img;
}

// ---------------------------------------------------------------- the grid
let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshGrid, 120);
}

async function refreshGrid() {
  const seq = ++state.seq;
  const start = Math.max(0, parseInt($("start").value, 10) || 0);
  const count = parseInt($("count").value, 10);
  setStatus("rendering…");
  try {
    const settings = view();
    // A pick repeats the request that drew it (the class asked for, or none: drawn by seed).
    const requested = settings.label === undefined ? null : settings.label;
    const data = await api(runPath("grid"), { start, count, ...settings });
    if (seq !== state.seq) return;  // a newer request superseded this one
    const grid = $("grid");
    grid.replaceChildren();
    data.images.forEach((src, i) => {
      const seed = data.seeds[i];
      const label = data.labels ? data.labels[i] : null;
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = src;
      img.alt = `seed ${seed}`;
      const cap = document.createElement("figcaption");
      cap.textContent = `seed ${seed}` + (label === null ? "" : ` · ${label}`);
      fig.append(img, cap);
      fig.dataset.seed = seed;
      fig.requested = requested;
      fig.addEventListener("click", () => pick(fig, { seed, label: requested, shown: label, src }));
      grid.append(fig);
    });
    markPicked();
    grid.dataset.version = String(parseInt(grid.dataset.version, 10) + 1);
    setStatus(`${data.images.length} samples`);
  } catch (e) {
    if (seq === state.seq) setStatus(e.message, true);
  }
}

function pick(fig, p) {
  const mode = document.querySelector("input[name=pick]:checked").value;
  if (mode === "ab") {
    if (state.a === null || state.b !== null) { state.a = p; state.b = null; } else { state.b = p; }
    markPicked();
    $("pick-a").replaceChildren(state.a ? thumb(state.a) : "none");
    $("pick-b").replaceChildren(state.b ? thumb(state.b) : "none");
    $("interpolate").disabled = !(state.a && state.b);
  } else if (state.groups[mode].length < 16) {
    state.groups[mode].push(p);
    drawGroups();
  }
  const link = $("download");
  const params = new URLSearchParams({ seed: p.seed, scale: 8 });
  if (p.label !== null && state.run.conditional) params.set("label", p.label);
  const t = view().truncation;
  if (t) params.set("truncation", t);
  link.href = `${runPath("image.png")}?${params}`;
  link.download = `${state.run.name}-seed${p.seed}.png`;
  link.hidden = false;
  $("download-none").hidden = true;
}

function markPicked() {
  // Outline the samples picked as A and B among those on screen.
  const picked = [state.a, state.b].filter((p) => p !== null);
  document.querySelectorAll("#grid figure").forEach((f) => {
    const seed = parseInt(f.dataset.seed, 10);
    f.classList.toggle("picked", picked.some((p) => p.seed === seed && p.label === f.requested));
  });
}

function drawGroups() {
  for (const key of ["a", "b", "c"]) {
    const box = $(`group-${key}`);
    box.replaceChildren();
    state.groups[key].forEach((p, i) => {
      const img = thumb(p);
      img.addEventListener("click", () => { state.groups[key].splice(i, 1); drawGroups(); });
      box.append(img);
    });
  }
  $("combine").disabled = !["a", "b", "c"].every((k) => state.groups[k].length > 0);
}

function showStrip(box, images, means = []) {
  box.replaceChildren();
  const add = (src, i, cls, title) => {
    const link = document.createElement("a");
    link.href = src;
    link.download = `${title}.png`;
    link.className = cls;
    const img = document.createElement("img");
    img.src = src;
    img.alt = title;
    link.append(img);
    box.append(link);
  };
  means.forEach((src, i) => add(src, i, "mean", `mean-${"abc"[i]}`));
  images.forEach((src, i) => add(src, i, "", `step-${i}`));
  box.dataset.version = String(parseInt(box.dataset.version, 10) + 1);
}

async function runInterpolation() {
  setStatus("interpolating…");
  try {
    const steps = parseInt($("steps").value, 10);
    const body = { a: pickOf(state.a.seed, state.a.label), b: pickOf(state.b.seed, state.b.label),
                   steps, slerp: $("slerp").checked, ...view() };
    delete body.label;  // each end keeps the class it was picked with
    const data = await api(runPath("interpolate"), body);
    showStrip($("strip"), data.images);
    setStatus(`interpolated in ${data.images.length} steps`);
  } catch (e) { setStatus(e.message, true); }
}

async function runArithmetic() {
  setStatus("computing…");
  try {
    const body = { ...view() };
    delete body.label;
    for (const k of ["a", "b", "c"]) body[k] = state.groups[k].map((p) => pickOf(p.seed, p.label));
    const data = await api(runPath("arithmetic"), body);
    showStrip($("arithmetic-result"), data.images, data.means);
    setStatus("a − b + c and variations");
  } catch (e) { setStatus(e.message, true); }
}

// ---------------------------------------------------------------- per-run controls
function slider(id, text, min, max, step, value, onInput) {
  const wrap = document.createElement("div");
  wrap.className = "slider";
  const label = document.createElement("label");
  const out = document.createElement("output");
  out.textContent = value;
  label.append(`${text} `, out);
  const input = document.createElement("input");
  Object.assign(input, { type: "range", id, min, max, step, value });
  input.setAttribute("aria-label", text);
  input.addEventListener("input", () => { out.textContent = input.value; onInput(); });
  wrap.append(label, input);
  return wrap;
}

function selectRun(index) {
  state.run = state.runs[index];
  const r = state.run;
  state.a = state.b = null;
  state.groups = { a: [], b: [], c: [] };
  $("pick-a").replaceChildren("none");
  $("pick-b").replaceChildren("none");
  $("interpolate").disabled = true;
  drawGroups();
  $("run-info").textContent = `${r.family} · step ${r.step} · z ${r.z_dim}` +
    (r.conditional ? ` · ${r.num_classes} classes` : "");
  $("class-section").hidden = !r.conditional;
  const label = $("label");
  label.replaceChildren(new Option("drawn by seed", ""));
  for (let k = 0; k < r.num_classes; k++) label.append(new Option(`class ${k}`, String(k)));
  const codes = $("codes");
  codes.replaceChildren();
  for (const code of r.codes) {
    if (code.kind === "categorical") {
      const sel = document.createElement("select");
      sel.id = `code-${code.name}`;
      sel.append(new Option(`${code.name}: drawn by seed`, ""));
      for (let k = 0; k < code.size; k++) sel.append(new Option(`${code.name} = ${k}`, String(k)));
      sel.addEventListener("change", refreshSoon);
      codes.append(sel);
    } else {
      const on = document.createElement("label");
      const box = document.createElement("input");
      Object.assign(box, { type: "checkbox", id: `code-${code.name}-on` });
      box.addEventListener("change", refreshSoon);
      on.append(box, ` set ${code.name}`);
      codes.append(on);
      for (let i = 0; i < code.size; i++) {
        codes.append(slider(`code-${code.name}-${i}`, `${code.name}[${i}]`, -2, 2, 0.1, 0, refreshSoon));
      }
    }
  }
  $("codes-section").hidden = r.codes.length === 0;
  const dirs = $("directions");
  dirs.replaceChildren();
  for (const d of r.directions) dirs.append(slider(`dir-${d.id}`, d.label, -5, 5, 0.25, 0, refreshSoon));
  $("directions-section").hidden = r.directions.length === 0;
  state.curvesVersion = null;
  refreshCurves();
  if (!r.image) { setStatus("this run generates points; the explorer shows image runs", true); return; }
  refreshGrid();
}

// ---------------------------------------------------------------- training curves
// Polled while the page is open: a run that is still training gets its plots redrawn.
const CURVES_EVERY_MS = 15000;

async function refreshCurves() {
  if (!state.run || document.hidden) return;
  const run = state.run;
  let data;
  try { data = await api(runPath("plots")); } catch (e) { return; }
  if (run !== state.run || data.version === state.curvesVersion) return;
  state.curvesVersion = data.version;
  const box = $("curves");
  box.replaceChildren(...data.plots.map((p) => {
    const img = document.createElement("img");
    Object.assign(img, { src: p.url, alt: p.name, title: p.name });
    return img;
  }));
  $("curves-section").hidden = data.plots.length === 0;
  $("curves-note").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function init() {
  try {
    state.runs = (await api("/api/runs")).runs;
  } catch (e) { setStatus(e.message, true); return; }
  const select = $("run");
  state.runs.forEach((r, i) => select.append(new Option(`${r.index}: ${r.name}`, String(i))));
  select.addEventListener("change", () => selectRun(parseInt(select.value, 10)));
  $("truncation").addEventListener("input", () => {
    const t = parseFloat($("truncation").value);
    $("truncation-value").textContent = t > 0 ? t.toFixed(2) : "off";
    refreshSoon();
  });
  $("label").addEventListener("change", refreshSoon);
  $("start").addEventListener("change", refreshSoon);
  $("count").addEventListener("change", refreshSoon);
  const page = (sign) => {
    const n = parseInt($("count").value, 10);
    $("start").value = Math.max(0, (parseInt($("start").value, 10) || 0) + sign * n);
    refreshGrid();
  };
  $("prev").addEventListener("click", () => page(-1));
  $("next").addEventListener("click", () => page(1));
  $("interpolate").addEventListener("click", runInterpolation);
  $("combine").addEventListener("click", runArithmetic);
  $("clear-groups").addEventListener("click", () => { state.groups = { a: [], b: [], c: [] }; drawGroups(); });
  $("reset-directions").addEventListener("click", () => {
    document.querySelectorAll("#directions input").forEach((i) => { i.value = 0; i.dispatchEvent(new Event("input")); });
  });
  if (state.runs.length) selectRun(0);
  setInterval(refreshCurves, CURVES_EVERY_MS);
}

init();

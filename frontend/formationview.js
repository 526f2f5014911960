// The "Formation" tab: how each shown run's routing space formed, from the paths its
// trainer recorded every epoch (GET /api/models/{id}/formation). One map per run whose
// layout all epochs share, so an image's point moves exactly when its path changes; an
// epoch slider and a play button drive every shown run in step; the probe set's measures
// and the share of paths changed per class, with the current epoch marked; and for a
// clicked image its path at every epoch.

import { el, fill } from "./dom.js";
import { exportButtons } from "./export.js";
import { classColor, formatPercent, METHOD_NAMES, plural } from "./format.js";
import { ensureFormation, entryState, forget } from "./loader.js";
import { PLOT_CONFIG, plotText, STATIC_CONFIG, webglConfig } from "./plots.js";
import { whenChanged } from "./rerender.js";
import { shownModels, state, update } from "./state.js";

// Images on one path share its point; each is drawn this far from it (a fraction of the
// map's extent), at a place of its own that no epoch changes, so that the crowd on a
// path shows its size and an image moves only with its path.
const SPREAD = 0.012;
// A play lasts about this long whatever the number of epochs, within the step bounds.
const PLAY_MS = 8000;
const STEP_MS = [40, 450];
const MUTED = "#6b7280";
const MEASURE_SERIES = [
  { key: "accuracy", name: "accuracy", color: "#1f2937" },
  { key: "same_class_ratio", name: "same-class ratio ↓", color: "#f28e2b" },
  { key: "neighbor_agreement", name: "neighbour agreement ↑", color: "#17803d" },
  { key: "probe_accuracy", name: "linear probe ↑", color: "#7c3aed" },
  { key: "settled", name: "paths settled", color: "#2f6fde" },
];

// The one piece of the tab's own state: the epoch shown (an index into the union of the
// shown runs' epochs), the play timer, the clicked image per run.
const view = { epoch: null, timer: null, picked: {}, epochs: [] };

/** A deterministic offset per image (golden-angle spiral), scaled by `radius`. */
export function imageOffsets(count, radius) {
  const dx = new Float64Array(count);
  const dy = new Float64Array(count);
  for (let i = 0; i < count; i += 1) {
    const r = radius * Math.sqrt((i % 97) / 97 + 0.01);
    const angle = i * 2.399963229728653;
    dx[i] = r * Math.cos(angle);
    dy[i] = r * Math.sin(angle);
  }
  return { dx, dy };
}

/** Each probe image's point at recorded epoch index `e`: its path's point plus its offset. */
export function positionsAt(data, e, offsets) {
  const ids = data.path_ids[e];
  const x = new Float64Array(ids.length);
  const y = new Float64Array(ids.length);
  for (let i = 0; i < ids.length; i += 1) {
    x[i] = data.x[ids[i]] + offsets.dx[i];
    y[i] = data.y[ids[i]] + offsets.dy[i];
  }
  return { x, y };
}

/** The recorded epoch index of `data` to show at epoch number `epoch`: the last one
 * recorded at or before it (the first, before any). */
export function recordedIndex(data, epoch) {
  let found = 0;
  data.epochs.forEach((value, i) => {
    if (value <= epoch) found = i;
  });
  return found;
}

/** (epochs x gates) 0/1 rows: image `i`'s path at every recorded epoch. */
export function pathRaster(data, i) {
  return data.path_ids.map((ids) => Array.from(data.paths[ids[i]], (bit) => (bit === "1" ? 1 : 0)));
}

/** Sorted epoch numbers recorded by any of `datas`. */
export function unionEpochs(datas) {
  return [...new Set(datas.flatMap((data) => data.epochs))].sort((a, b) => a - b);
}

// [low, high] of `values`, by a loop: the map has a point per distinct path of every
// epoch (about 200,000 at 200 epochs of 2,000 images), more than a call's spread
// arguments can hold.
function bounds(values) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return [low, high];
}

function extent(values) {
  return span(...bounds(values));
}

function span(low, high) {
  return high > low ? high - low : 1;
}

function mapFigure(data, e, offsets) {
  const { x, y } = positionsAt(data, e, offsets);
  const classes = data.class_names.length;
  const members = data.class_names.map((_, c) => data.labels.flatMap((label, i) => (label === c ? [i] : [])));
  return {
    data: members.map((indices, c) => ({
      type: "scattergl",
      mode: "markers",
      name: plotText(data.class_names[c]),
      x: indices.map((i) => x[i]),
      y: indices.map((i) => y[i]),
      customdata: indices,
      text: indices.map((i) => `#${data.sample_ids[i]} · ${plotText(data.class_names[c])}`),
      hovertemplate: "%{text}<extra></extra>",
      marker: { size: 5, color: classColor(c, classes), opacity: 0.75 },
    })),
    layout: {
      margin: { l: 10, r: 10, t: 10, b: 10 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      showlegend: true,
      legend: { font: { size: 11 } },
      uirevision: data.model_id,
      xaxis: { visible: false, range: paddedRange(data.x, offsets.dx) },
      yaxis: { visible: false, range: paddedRange(data.y, offsets.dy) },
      hovermode: "closest",
    },
  };
}

/** An axis range of the map: the paths' points `values` and every image's offset from
 * its path's point, with a margin. */
export function paddedRange(values, offsets) {
  const [low, high] = bounds(values);
  const [nearest, farthest] = bounds(offsets);
  const pad = span(low, high) * 0.04 + Math.max(-nearest, farthest);
  return [low - pad, high + pad];
}

function epochLine(epoch) {
  return [{ type: "line", xref: "x", yref: "paper", x0: epoch, x1: epoch, y0: 0, y1: 1, line: { color: MUTED, width: 1.5, dash: "dot" } }];
}

function curvesLayout(yTitle, epoch, extra = {}) {
  return {
    margin: { l: 48, r: 12, t: 10, b: 40 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
    xaxis: { title: { text: "Epoch" }, gridcolor: "#eef0f4", zeroline: false, tickformat: "d" },
    yaxis: { title: { text: yTitle }, gridcolor: "#eef0f4", zeroline: false, range: [0, 1.02], tickformat: ".0%" },
    shapes: epochLine(epoch),
    ...extra,
  };
}

function measuresFigure(data, epoch) {
  const columns = { ...data.measures, settled: data.settled };
  return {
    data: MEASURE_SERIES.map((series) => ({
      type: "scatter",
      mode: "lines+markers",
      connectgaps: true, // the linear probe is measured on some epochs only
      name: series.name,
      x: data.epochs,
      y: columns[series.key],
      line: { color: series.color, width: 2 },
      marker: { size: 4 },
      hovertemplate: `epoch %{x}: ${series.name} %{y:.3f}<extra></extra>`,
    })),
    layout: curvesLayout("Share or ratio", epoch),
  };
}

function changedFigure(data, epoch) {
  const classes = data.class_names.length;
  return {
    data: [
      ...data.changed_per_class.map((curve, c) => ({
        type: "scatter",
        mode: "lines",
        name: plotText(data.class_names[c]),
        x: data.epochs,
        y: curve,
        line: { color: classColor(c, classes), width: 1.2 },
        hovertemplate: `epoch %{x}: ${plotText(data.class_names[c])} %{y:.1%}<extra></extra>`,
      })),
      {
        type: "scatter",
        mode: "lines",
        name: "all images",
        x: data.epochs,
        y: data.changed,
        line: { color: "#111827", width: 3 },
        hovertemplate: "epoch %{x}: all images %{y:.1%}<extra></extra>",
      },
    ],
    layout: curvesLayout("Paths changed", epoch),
  };
}

function rasterFigure(data, i, epoch) {
  const gates = data.paths[0].length;
  return {
    data: [
      {
        type: "heatmap",
        z: pathRaster(data, i),
        x: Array.from({ length: gates }, (_, g) => g + 1),
        y: data.epochs,
        zmin: 0,
        zmax: 1,
        colorscale: [[0, "#f3f4f6"], [1, "#2f6fde"]],
        showscale: false,
        xgap: 1,
        ygap: data.epochs.length > 60 ? 0 : 1,
        hovertemplate: "epoch %{y}, block %{x}: %{z}<extra>1 = executed</extra>",
      },
    ],
    layout: {
      margin: { l: 48, r: 12, t: 10, b: 40 },
      paper_bgcolor: "rgba(0,0,0,0)",
      xaxis: { title: { text: "Block (input side first)" }, dtick: gates > 20 ? 5 : 1 },
      yaxis: { title: { text: "Epoch" }, autorange: "reversed" },
      shapes: [{ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: epoch, y1: epoch, line: { color: "#c4321f", width: 2 } }],
    },
  };
}

// -- rendering ------------------------------------------------------------------------

export function renderFormation(root) {
  for (const model of shownModels()) ensureFormation(model.id, state.method);
  formationView(root);
}

const formationOf = (model) => state.formation[`${model.id}|${state.method}`];

// Drawn again when the shown models, the layout method or a run's state changes; a job's
// progress in steps of 5%, so the loading card's percentage moves.
const formationView = whenChanged(
  () =>
    shownModels().map((model) => {
      const entry = formationOf(model);
      const progress = entry?.data || entry?.error ? null : Math.round((entry?.job?.progress || 0) * 20);
      return [model.id, state.method, entryState(entry), progress];
    }),
  drawFormation,
);

function drawFormation(root) {
  const entries = shownModels().map((model) => ({ model, entry: formationOf(model) }));
  stop();
  for (const plot of root.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(plot);
  const ready = entries.filter(({ entry }) => entry?.data);
  view.epochs = unionEpochs(ready.map(({ entry }) => entry.data));
  if (view.epoch === null || view.epoch >= view.epochs.length) view.epoch = Math.max(0, view.epochs.length - 1);
  const drawings = [];
  const cards = entries.map(({ model, entry }) =>
    entry?.data ? runCard(model, entry.data, drawings) : statusCard(model, entry),
  );
  fill(
    root,
    toolbar(ready.length > 0),
    el("div", { class: "formation-runs", style: { gridTemplateColumns: `repeat(${cards.length}, minmax(0, 1fr))` } }, cards),
  );
  // Drawn once in the page, where the plots can measure their size.
  for (const draw of drawings) draw();
  showEpoch();
}

function toolbar(enabled) {
  const slider = el("input", {
    type: "range",
    id: "formation-epoch",
    min: "0",
    max: String(Math.max(0, view.epochs.length - 1)),
    value: String(view.epoch),
    disabled: !enabled,
    "aria-label": "Epoch",
  });
  slider.addEventListener("input", () => {
    stop();
    view.epoch = Number(slider.value);
    showEpoch();
  });
  const play = el("button", { type: "button", class: "button small", id: "formation-play", disabled: !enabled }, "Play");
  play.addEventListener("click", () => (view.timer ? stop() : start()));
  const methods = el(
    "div",
    { class: "segmented", role: "radiogroup", "aria-label": "Layout" },
    Object.entries(METHOD_NAMES).map(([value, name]) =>
      el("button", { type: "button", role: "radio", class: value === state.method ? "active" : null, "aria-checked": String(value === state.method), onclick: () => update({ method: value }) }, name),
    ),
  );
  return el(
    "div",
    { class: "toolbar card formation-toolbar" },
    el("div", { class: "control" }, el("span", { class: "control-label" }, "Layout"), methods),
    el("div", { class: "control formation-slider" }, play, slider, el("output", { id: "formation-epoch-label", for: "formation-epoch" })),
  );
}

function runCard(model, data, drawings) {
  const offsets = imageOffsets(data.sample_ids.length, SPREAD * Math.max(extent(data.x), extent(data.y)));
  const charts = {
    map: el("div", { class: "chart formation-map", dataset: { model: model.id, state: "loading" } }),
    measures: el("div", { class: "chart", dataset: { chart: "formation-measures" } }),
    changed: el("div", { class: "chart", dataset: { chart: "formation-changed" } }),
    raster: el("div", { class: "chart formation-raster" }),
  };
  const card = el(
    "section",
    { class: "card formation-run", dataset: { model: model.id } },
    el(
      "div",
      { class: "card-head" },
      el("h3", { text: model.id }),
      el(
        "p",
        { class: "hint" },
        `${plural(data.sample_ids.length, "test image")} recorded at ${plural(data.epochs.length, "epoch")}, laid out together by ${METHOD_NAMES[data.method]} over ${plural(data.paths.length, "distinct path")}. `,
        el("b", { class: "formation-settled", text: `90% of images keep their path from epoch ${data.settled_90_epoch}` }),
        ` to the last; the served checkpoint is from epoch ${data.checkpoint_epoch}.`,
      ),
      exportButtons({ chart: () => charts.map, title: `Formation · ${model.id}`, csv: () => formationCsv(model.id, data) }),
    ),
    el("p", { class: "formation-epoch-note hint" }),
    charts.map,
    el("div", { class: "formation-curves" }, panel("Measures of the recorded images", charts.measures), panel("Paths changed since the previous epoch, per class", charts.changed)),
    el("div", { class: "formation-picked" }, el("p", { class: "hint formation-picked-text", text: "Click an image on the map to see its path at every epoch." }), charts.raster),
  );
  card.formation = { data, offsets, charts };
  drawings.push(() => {
    const epoch = view.epochs[view.epoch];
    const map = mapFigure(data, recordedIndex(data, epoch), offsets);
    window.Plotly.newPlot(charts.map, map.data, map.layout, webglConfig(PLOT_CONFIG, window.devicePixelRatio)).then(() => {
      charts.map.dataset.state = "ready";
      charts.map.on("plotly_click", (event) => {
        view.picked[model.id] = event.points[0].customdata;
        showPicked(card, data);
      });
    });
    for (const [div, figure] of [[charts.measures, measuresFigure(data, epoch)], [charts.changed, changedFigure(data, epoch)]]) {
      window.Plotly.newPlot(div, figure.data, figure.layout, STATIC_CONFIG);
    }
    if (view.picked[model.id] !== undefined) showPicked(card, data);
  });
  return card;
}

function panel(title, chart) {
  return el("div", { class: "formation-panel" }, el("h4", { text: title }), chart);
}

function showPicked(card, data) {
  const i = card.formation ? view.picked[card.dataset.model] : undefined;
  if (i === undefined) return;
  const { charts } = card.formation;
  const label = data.class_names[data.labels[i]];
  card.querySelector(".formation-picked-text").textContent =
    `Image #${data.sample_ids[i]} (${label}): its path at every recorded epoch (rows), blocks executed in blue; it keeps its last path from epoch ${data.settle_epochs[i]}.`;
  const figure = rasterFigure(data, i, view.epochs[view.epoch]);
  charts.raster.style.height = `${Math.min(420, 60 + 12 * data.epochs.length)}px`;
  window.Plotly.react(charts.raster, figure.data, figure.layout, STATIC_CONFIG);
  charts.raster.dataset.sample = String(data.sample_ids[i]);
}

/** Move every shown run to `view.epoch`: points, epoch lines, labels. */
function showEpoch() {
  const epoch = view.epochs[view.epoch];
  const label = document.getElementById("formation-epoch-label");
  const slider = document.getElementById("formation-epoch");
  if (epoch === undefined || !label) return;
  label.textContent = `epoch ${epoch} of ${view.epochs[view.epochs.length - 1]}`;
  slider.value = String(view.epoch);
  for (const card of document.querySelectorAll(".formation-run")) {
    const { data, offsets, charts } = card.formation;
    const e = recordedIndex(data, epoch);
    const { x, y } = positionsAt(data, e, offsets);
    const traces = charts.map.data;
    if (traces) {
      window.Plotly.restyle(
        charts.map,
        { x: traces.map((trace) => trace.customdata.map((i) => x[i])), y: traces.map((trace) => trace.customdata.map((i) => y[i])) },
        traces.map((_, t) => t),
      );
    }
    charts.map.dataset.epoch = String(data.epochs[e]);
    for (const div of [charts.measures, charts.changed]) {
      if (div.layout) window.Plotly.relayout(div, { shapes: epochLine(epoch) });
    }
    if (charts.raster.layout) {
      window.Plotly.relayout(charts.raster, { "shapes[0].y0": epoch, "shapes[0].y1": epoch });
    }
    const changed = data.changed[e];
    card.querySelector(".formation-epoch-note").textContent =
      `Epoch ${data.epochs[e]}: accuracy ${formatPercent(data.measures.accuracy[e])}, ${plural(data.measures.unique_paths[e], "distinct path")}, ` +
      (changed === null ? "the first recorded epoch" : `${formatPercent(changed)} of images changed path since the epoch before`) +
      `; ${formatPercent(data.settled[e])} keep their path from here to the end.`;
  }
}

function start() {
  if (view.epoch >= view.epochs.length - 1) view.epoch = 0;
  const step = Math.min(STEP_MS[1], Math.max(STEP_MS[0], PLAY_MS / Math.max(1, view.epochs.length)));
  const last = view.epochs.length - 1;
  const first = view.epoch;
  const began = performance.now();
  document.getElementById("formation-play").textContent = "Pause";
  showEpoch();
  // Each tick shows the epoch nearest the clock, not the next one: where drawing an epoch
  // takes longer than a step (2,000 WebGL markers at 40 ms a step, in a software
  // renderer), the epochs missed are skipped rather than the play slowed. A tick that
  // comes early draws nothing.
  view.timer = setInterval(() => {
    const due = Math.min(last, first + Math.round((performance.now() - began) / step));
    if (due <= view.epoch) return;
    view.epoch = due;
    showEpoch();
    if (view.epoch >= last) stop();
  }, step);
}

function stop() {
  if (view.timer) clearInterval(view.timer);
  view.timer = null;
  const play = document.getElementById("formation-play");
  if (play) play.textContent = "Play";
}

function formationCsv(modelId, data) {
  return {
    name: `formation-${modelId}`,
    columns: ["epoch", "sample_id", "label", "prediction", "path"],
    rows: data.epochs.flatMap((epoch, e) =>
      data.sample_ids.map((id, i) => [epoch, id, data.labels[i], data.predictions[e][i], data.paths[data.path_ids[e][i]]]),
    ),
  };
}

function statusCard(model, entry) {
  if (entry?.error) {
    return el(
      "div",
      { class: "card error-box formation-missing", dataset: { model: model.id } },
      `${model.id}: ${entry.error} `,
      entry.status === 404 ? null : el("button", { type: "button", class: "button small", onclick: () => forget("formation", `${model.id}|${state.method}`) }, "Try again"),
    );
  }
  const progress = entry?.job ? ` (${formatPercent(entry.job.progress || 0, 0)})` : "";
  return el("div", { class: "card loading-box" }, el("span", { class: "spinner" }), `Laying out the formation of ${model.id}${progress}…`);
}

// The "Per-class analysis" tab: consistency, diversity, unique paths and block execution
// rates per class, for one model or two side by side on shared scales.

import { el, fill, stat } from "./dom.js";
import { exportButtons } from "./export.js";
import { formatMacs, formatNumber, formatPercent } from "./format.js";
import { ensureImportance, ensureMetrics, entryState, forget } from "./loader.js";
import {
  STATIC_CONFIG,
  blockRateFigure,
  consistencyFigure,
  diversityFigure,
  importanceFigure,
  uniquePathsFigure,
} from "./plots.js";
import { shownModels, splitName, state, update } from "./state.js";
import { whenChanged } from "./rerender.js";

const CHARTS = [
  {
    id: "consistency",
    title: "Consistency within a class",
    better: "lower is better",
    explain:
      "Mean Hamming distance, in blocks, between the paths of two images of the class (blue) and of two augmented views of one image (orange): low means the class is routed consistently.",
    figure: (metrics, model, shared) => consistencyFigure(metrics, { yMax: shared.consistencyMax }),
  },
  {
    id: "diversity",
    title: "Diversity between classes",
    better: "higher is better",
    explain:
      "L1 distance, in blocks, between the mean paths of two classes: dark cells off the diagonal mean the two classes take different routes.",
    figure: (metrics, model, shared) => diversityFigure(metrics, { zMax: shared.distanceMax }),
  },
  {
    id: "unique-paths",
    title: "Distinct paths per class",
    better: "fewer is more consistent",
    explain:
      "How many different paths the class's test images take (hover for the path entropy); a class spread over many paths is routed unpredictably.",
    figure: (metrics, model, shared) => uniquePathsFigure(metrics, { yMax: shared.uniqueMax }),
  },
  {
    id: "block-rate",
    title: "Block execution rate per class",
    better: "rows that differ are better",
    explain:
      "Share of each class's images that run each block, input side first (lines separate stages); a column stuck at 0% or 100% is a gate that never adapts.",
    figure: (metrics, model, shared, compare) => blockRateFigure(metrics, model, { compare }),
  },
];

const IMPORTANCE_DIRECTIONS = {
  off: {
    label: "Forced off",
    explain:
      "For the images of each class that run a block, the change in accuracy when that block alone is forced off (the rest of each image's path kept): red cells are blocks the class needs.",
  },
  on: {
    label: "Forced on",
    explain:
      "For the images of each class that skip a block, the change in accuracy when that block alone is forced on (the rest of each image's path kept): blue cells are blocks that would have helped.",
  },
};

export function renderClasses(root) {
  for (const model of shownModels()) {
    ensureMetrics(model.id);
    ensureImportance(model.id);
  }
  classesView(root);
}

// Drawn again when the heatmap's direction, the shown models or one of their entries'
// states (pending, data, error) changes.
const classesView = whenChanged(
  () => [state.flip, shownModels().map((m) => [m.id, entryState(state.metrics[m.id]), entryState(state.importance[m.id])])],
  drawClasses,
);

function drawClasses(root) {
  const models = shownModels();
  for (const plot of root.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(plot);
  const compare = models.length === 2;
  root.className = `classes-grid ${compare ? "layout-compare" : "layout-single"}`;
  const entries = models.map((m) => ({ model: m, entry: state.metrics[m.id] }));
  const ready = entries.filter((e) => e.entry?.data).map((e) => e.entry.data);
  const shared = sharedScales(ready);
  const pending = [];

  const overview = el(
    "section",
    { class: "card overview-card" },
    el("div", { class: "card-head" }, el("h3", { text: "Routing at a glance" }), el("p", { class: "hint", text: `${splitName()} split. Arrows give the better direction.` })),
    el(
      "div",
      { class: compare ? "pair" : "single" },
      entries.map(({ model, entry }) => cell(model, entry, compare, (metrics) => overviewStats(metrics, model))),
    ),
  );
  const cards = CHARTS.map((chart) =>
    el(
      "section",
      { class: "card chart-card", dataset: { chart: chart.id } },
      el(
        "div",
        { class: "card-head" },
        el("h3", {}, chart.title, " ", el("span", { class: "better", text: chart.better })),
        el("p", { class: "explain", text: chart.explain }),
      ),
      el(
        "div",
        { class: compare ? "pair" : "single" },
        entries.map(({ model, entry }, i) =>
          cell(model, entry, compare, (metrics) => {
            const div = el("div", { class: "chart", id: `chart-${chart.id}-${i}`, dataset: { state: "loading" } });
            pending.push({ div, figure: chart.figure(metrics, model, shared, compare) });
            return chartWithExports(div, chart.title, model);
          }),
        ),
      ),
    ),
  );
  const importance = importanceCard(models, compare, pending);
  const table = el(
    "section",
    { class: "card table-card" },
    el(
      "div",
      { class: "card-head" },
      el("h3", { text: "Per-class numbers" }),
    ),
    entries.map(({ model, entry }) =>
      cell(model, entry, compare, (metrics) => [
        el("div", { class: "cell-tools" }, exportButtons({ csv: () => classCsv(metrics, model) })),
        classTable(metrics, model),
      ]),
    ),
  );
  fill(root, overview, ...cards, importance, table);
  for (const { div, figure } of pending) {
    window.Plotly.newPlot(div, figure.data, figure.layout, STATIC_CONFIG).then(() => {
      div.dataset.state = "ready";
      div.dataset.traces = String(figure.data.length);
    });
  }
}

/** Block importance per class, for the direction chosen with the card's buttons. */
function importanceCard(models, compare, pending) {
  const entries = models.map((m) => ({ model: m, entry: state.importance[m.id] }));
  const ready = entries.filter((e) => e.entry?.data).map((e) => e.entry.data);
  const zMax = sharedImportanceScale(ready, state.flip);
  const direction = IMPORTANCE_DIRECTIONS[state.flip];
  const buttons = Object.entries(IMPORTANCE_DIRECTIONS).map(([key, { label }]) =>
    el("button", {
      type: "button",
      class: `subtab${key === state.flip ? " active" : ""}`,
      "aria-pressed": key === state.flip ? "true" : "false",
      dataset: { direction: key },
      text: label,
      onclick: () => update({ flip: key }),
    }),
  );
  return el(
    "section",
    { class: "card chart-card", dataset: { chart: "importance", direction: state.flip } },
    el(
      "div",
      { class: "card-head" },
      el("h3", {}, "Block importance per class ", el("span", { class: "better", text: "change in accuracy" })),
      el("div", { class: "subtabs" }, buttons),
      el("p", { class: "explain", text: direction.explain }),
    ),
    el(
      "div",
      { class: compare ? "pair" : "single" },
      entries.map(({ model, entry }, i) => importanceCell(model, entry, compare, i, zMax, pending)),
    ),
  );
}

function importanceCell(model, entry, compare, index, zMax, pending) {
  return cell(
    model,
    entry,
    compare,
    (data) => {
      const div = el("div", { class: "chart", id: `chart-importance-${index}`, dataset: { state: "loading" } });
      pending.push({ div, figure: importanceFigure(data, model, state.flip, { zMax, compare }) });
      const direction = IMPORTANCE_DIRECTIONS[state.flip].label.toLowerCase();
      const chart = chartWithExports(div, `Block importance per class (${direction})`, model);
      if (!data.sampled) return chart;
      // A large split is measured on a sample (one routing of it per block): say so.
      const count = (n) => n.toLocaleString("en-US");
      return el(
        "div",
        {},
        el("p", {
          class: "explain sample-note",
          text: `Measured on ${count(data.images)} of the split's ${count(data.split_images)} images, a seeded random sample.`,
        }),
        chart,
      );
    },
    IMPORTANCE_CELL,
  );
}

function sharedImportanceScale(all, direction) {
  const changes = all.flatMap((data) =>
    data[direction].forced_accuracy.flatMap((row, c) =>
      row.map((v, b) => (v === null ? null : Math.abs(v - data[direction].own_accuracy[c][b]))).filter((v) => v !== null),
    ),
  );
  return changes.length ? Math.max(0.05, ...changes) : null;
}

/** The per-class table as CSV: every number the table and the charts show per class. */
function classCsv(metrics, model) {
  const columns = Object.keys(metrics.per_class[0] || {}).filter((key) => key !== "class_index");
  return {
    name: `${model.id}-per-class`,
    columns,
    rows: metrics.per_class.map((row) => columns.map((key) => row[key])),
  };
}

const METRICS_CELL = {
  kind: "metrics",
  what: "the metrics",
  loading: "Computing per-class metrics (routes augmented views too)…",
};
const IMPORTANCE_CELL = {
  kind: "importance",
  what: "the block importance",
  loading: "Routing the split once per flipped block…",
};

/** One model's part of a card: its figure when its data is in, else why not yet. */
function cell(model, entry, compare, build, { kind, what, loading } = METRICS_CELL) {
  const head = compare ? el("div", { class: "cell-title", text: model.id }) : null;
  if (entry?.error) {
    return el(
      "div",
      { class: "cell" },
      head,
      el(
        "div",
        { class: "error-box" },
        `Could not compute ${what} of ${model.id}: ${entry.error} `,
        el("button", { type: "button", class: "button small", onclick: () => forget(kind, model.id) }, "Try again"),
      ),
    );
  }
  if (!entry?.data) {
    return el("div", { class: "cell" }, head, el("div", { class: "loading-box" }, el("span", { class: "spinner" }), loading));
  }
  return el("div", { class: "cell" }, head, build(entry.data));
}

/** A chart of one model, with its PNG and SVG buttons above it. */
function chartWithExports(div, title, model) {
  return [el("div", { class: "cell-tools" }, exportButtons({ chart: () => div, title: `${title} · ${model.id}` })), div];
}

function sharedScales(all) {
  if (!all.length) return {};
  const max = (values) => Math.max(0, ...values.filter((v) => v !== null && v !== undefined));
  const consistency = max(
    all.flatMap((m) => m.per_class.flatMap((c) => [c.same_class_distance, c.view_distance])),
  );
  const distance = max(all.flatMap((m) => m.class_distance.flat()));
  const unique = max(all.flatMap((m) => m.per_class.map((c) => c.unique_paths)));
  return {
    consistencyMax: consistency ? consistency * 1.12 : null,
    distanceMax: distance || null,
    uniqueMax: unique ? unique * 1.15 + 0.5 : null,
  };
}

function overviewStats(metrics, model) {
  const o = metrics.overall;
  const full = o.full_macs || model.full_macs;
  return el(
    "div",
    { class: "stats overview" },
    stat("Accuracy ↑", formatPercent(o.accuracy)),
    stat("Executed blocks ↓", `${formatNumber(o.mean_executed_blocks, 2)} of ${model.num_gates}`),
    stat("MACs / image ↓", `${formatMacs(o.mean_macs)} · ${formatPercent(o.mean_macs / full, 0)}`),
    stat("Distinct paths", String(o.unique_paths), { title: `path entropy ${formatNumber(o.path_entropy, 2)} bits` }),
    ...measureStats(o, metrics.view_protocol),
  );
}

/** One stat per routing measure, as the server defines it (label, direction, meaning). */
function measureStats(overall, protocol) {
  const views = `${protocol.views} augmented views of the first ${protocol.images_per_class} images of each class`;
  return state.measures.map((m) =>
    stat(`${m.label} ${m.better === "lower" ? "↓" : "↑"}`, formatNumber(overall[m.name], m.unit === "blocks" ? 2 : 3), {
      title: `${m.description}${m.name.startsWith("view") ? ` Measured on ${views}.` : ""} ${m.better} is better${m.normalised ? "; comparable across models" : "; in blocks, shrinks when a model uses fewer paths"}.`,
    }),
  );
}

function classTable(metrics, model) {
  const columns = [
    ["Class", (c) => c.class_name],
    ["Images", (c) => String(c.count)],
    ["Accuracy", (c) => formatPercent(c.accuracy)],
    ["Distinct paths", (c) => String(c.unique_paths)],
    ["Entropy (bits)", (c) => formatNumber(c.path_entropy, 2)],
    ["Mean blocks", (c) => formatNumber(c.mean_executed_blocks, 2)],
    ["Mean MACs", (c) => formatMacs(c.mean_macs)],
    ["Same-class dist. ↓", (c) => formatNumber(c.same_class_distance, 2)],
    ["Same-class ratio ↓", (c) => formatNumber(c.same_class_ratio, 3)],
    ["View dist. ↓", (c) => formatNumber(c.view_distance, 2)],
    ["View ratio ↓", (c) => formatNumber(c.view_ratio, 3)],
    ["Class-mean dist. ↑", (c) => formatNumber(c.class_mean_distance, 2)],
  ];
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "data-table class-table" },
      el("thead", {}, el("tr", {}, columns.map(([name], i) => el("th", { scope: "col", class: i ? "num" : null, text: name })))),
      el(
        "tbody",
        {},
        metrics.per_class.map((c) =>
          el("tr", {}, columns.map(([, get], i) => el(i ? "td" : "th", { class: i ? "num" : null, scope: i ? null : "row", text: get(c) }))),
        ),
      ),
    ),
  );
}

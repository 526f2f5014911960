// The trade-off of a sweep or ablation (Per-class tab, for a model that is one of its
// runs): accuracy against each normalised routing measure, each variant a point at its
// mean over seeds with its standard deviation both ways, the front's variants filled.

import { el, fill } from "./dom.js";
import { exportButtons } from "./export.js";
import { ensureGroups } from "./loader.js";
import { STATIC_CONFIG, plotText } from "./plots.js";
import { whenChanged } from "./rerender.js";
import { modelById, state } from "./state.js";

// The measures the front is taken on (trainer.sweep.FRONT) and one more telling one.
const MEASURES = [
  { key: "view_ratio", label: "view ratio ↓" },
  { key: "probe_accuracy", label: "linear probe ↑" },
  { key: "neighbor_agreement", label: "neighbour agreement ↑" },
];

/** Points of one panel: per variant with both means, {variant, x, y, sdX, sdY, front}. */
export function tradeoffPoints(group, measure) {
  return Object.entries(group.variants)
    .map(([variant, stats]) => ({
      variant,
      x: stats[measure]?.mean ?? null,
      y: stats.accuracy?.mean ?? null,
      sdX: stats[measure]?.sd ?? 0,
      sdY: stats.accuracy?.sd ?? 0,
      seeds: stats.accuracy?.n ?? 0,
      front: group.front.includes(variant),
    }))
    .filter((p) => p.x !== null && p.y !== null);
}

export function tradeoffFigure(group, shownVariant) {
  const data = [];
  const layout = {
    grid: { rows: 1, columns: MEASURES.length, pattern: "independent", xgap: 0.1 },
    showlegend: false,
    margin: { l: 52, r: 10, t: 30, b: 44 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    annotations: [],
  };
  MEASURES.forEach((measure, i) => {
    const axis = i ? String(i + 1) : "";
    const points = tradeoffPoints(group, measure.key);
    data.push({
      type: "scatter",
      mode: "markers+text",
      xaxis: `x${axis}`,
      yaxis: `y${axis}`,
      x: points.map((p) => p.x),
      y: points.map((p) => p.y),
      text: points.map((p) => plotText(p.variant)),
      textposition: "top center",
      textfont: { size: 10 },
      error_x: { type: "data", array: points.map((p) => p.sdX), visible: true, color: "#9ca3af", thickness: 1 },
      error_y: { type: "data", array: points.map((p) => p.sdY), visible: true, color: "#9ca3af", thickness: 1 },
      marker: {
        size: points.map((p) => (p.variant === shownVariant ? 13 : 9)),
        color: points.map((p) => (p.front ? "#2f6fde" : "#ffffff")),
        line: { color: points.map((p) => (p.variant === shownVariant ? "#e15759" : "#2f6fde")), width: 2 },
      },
      customdata: points.map((p) => [p.variant, p.seeds, p.front ? "on the front" : "not on the front"]),
      hovertemplate: `%{customdata[0]} (%{customdata[1]} seeds, %{customdata[2]}): accuracy %{y:.2%}, ${measure.label} %{x:.3f}<extra></extra>`,
    });
    layout[`xaxis${axis}`] = { title: { text: measure.label, font: { size: 12 } }, gridcolor: "#eef0f4", zeroline: false };
    layout[`yaxis${axis}`] = { gridcolor: "#eef0f4", zeroline: false, tickformat: ".1%", ...(i ? {} : { title: { text: "Accuracy", font: { size: 12 } } }) };
  });
  return { data, layout };
}

export function renderTradeoff(root) {
  if (modelById(state.modelId)?.group) ensureGroups();
  tradeoffView(root);
}

/** The shown model's seed group, once the groups are in, or undefined. */
function shownGroup(model) {
  return state.groups?.data?.find((g) => g.group === model.group);
}

// Drawn again when the shown model or its group's state changes; hidden for a model of
// no group.
const tradeoffView = whenChanged(() => {
  const model = modelById(state.modelId);
  if (!model?.group) return null;
  return [model.id, shownGroup(model) ? "data" : state.groups?.error ? "error" : "pending"];
}, drawTradeoff);

function drawTradeoff(root) {
  const model = modelById(state.modelId);
  const group = model?.group && shownGroup(model);
  for (const plot of root.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(plot);
  if (!group || Object.keys(group.variants).length < 2) {
    root.hidden = true;
    return;
  }
  root.hidden = false;
  const chart = el("div", { class: "chart tradeoff-chart", dataset: { state: "loading", group: group.group } });
  fill(
    root,
    el(
      "section",
      { class: "card chart-card" },
      el(
        "div",
        { class: "card-head" },
        el("h3", { text: `Trade-off over the runs of ${group.group}` }),
        exportButtons({ chart: () => chart, title: `Trade-off · ${group.group}`, csv: () => tradeoffCsv(group) }),
        el("p", {
          class: "explain",
          text: `Accuracy against each normalised measure, each variant at its mean over seeds with its standard deviation both ways; filled: on the front (no other variant has higher accuracy, a lower view ratio and a higher linear probe at once); ringed red: ${model.variant}, the run shown.`,
        }),
      ),
      chart,
    ),
  );
  const figure = tradeoffFigure(group, model.variant);
  window.Plotly.newPlot(chart, figure.data, figure.layout, STATIC_CONFIG).then(() => {
    chart.dataset.state = "ready";
  });
}

function tradeoffCsv(group) {
  const keys = ["accuracy", ...MEASURES.map((m) => m.key)];
  return {
    name: `tradeoff-${group.group}`,
    columns: ["variant", "seeds", "front", ...keys.flatMap((k) => [`${k}_mean`, `${k}_sd`])],
    rows: Object.entries(group.variants).map(([variant, stats]) => [
      variant,
      stats.accuracy?.n ?? 0,
      group.front.includes(variant),
      ...keys.flatMap((k) => [stats[k]?.mean ?? "", stats[k]?.sd ?? ""]),
    ]),
  };
}

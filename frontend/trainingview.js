// The "Training curves" tab: a run's metrics.jsonl, epoch by epoch (accuracy, cost,
// routing measures, loss terms, learning rate); two runs overlaid when comparing, each
// named in the legend.

import { el, fill } from "./dom.js";
import { exportButtons } from "./export.js";
import { ensureTraining, entryState, forget } from "./loader.js";
import { STATIC_CONFIG, drawnValue, trainingFigure } from "./plots.js";
import { whenChanged } from "./rerender.js";
import { shownModels, state } from "./state.js";

const PANELS = [
  {
    id: "accuracy",
    title: "Accuracy",
    explain: "Test accuracy after each epoch (train accuracy on the augmented batches, as trained).",
    series: [
      { key: "accuracy", name: "test" },
      { key: "train_accuracy", name: "train" },
    ],
    yTitle: "Accuracy",
    tickFormat: ".0%",
    hoverFormat: ".2%",
  },
  {
    id: "cost",
    title: "Executed blocks",
    explain: "Mean blocks run per test image (and per training image, with Gumbel noise): the cost the cost term steers towards its target.",
    series: [
      { key: "mean_executed_blocks", name: "test" },
      { key: "train_executed_blocks", name: "train" },
    ],
    yTitle: "Blocks",
    tickFormat: null,
    hoverFormat: ".2f",
  },
  {
    id: "macs",
    title: "MACs per image",
    explain: "Mean multiply-accumulates per test image on its own path.",
    series: [{ key: "mean_macs", name: "MACs" }],
    yTitle: "MACs",
    tickFormat: ".3s",
    hoverFormat: ".3s",
  },
  {
    id: "measures",
    title: "Routing measures (normalised)",
    explain: "View ratio and same-class ratio (lower: views and classes share paths), neighbour agreement and the linear probe (higher: a path names its class); comparable across models.",
    series: [
      { key: "view_ratio", name: "view ratio ↓" },
      { key: "same_class_ratio", name: "same-class ratio ↓" },
      { key: "neighbor_agreement", name: "neighbour agreement ↑" },
      { key: "probe_accuracy", name: "linear probe ↑" },
    ],
    yTitle: "Ratio",
    tickFormat: ".2f",
    hoverFormat: ".3f",
    range: [0, 1.05],
  },
  {
    id: "losses",
    title: "Loss terms",
    weighted: true, // plotted as optimised: each term times its run's weight
    // Log scale: the terms lie orders of magnitude apart, and on a linear axis the small
    // ones lie on top of each other along 0.
    log: true,
    explain: "Each term of the training loss as optimised (weight × term, the weights each run was trained with), averaged over the epoch's batches, on a log scale; the terms add up to the total.",
    unweightedExplain: "Each term of the training loss, averaged over the epoch's batches, unweighted, on a log scale: the checkpoint does not say the weights it was trained with, so the terms do not add up to the total.",
    series: [
      { key: "loss", name: "total" },
      { key: "ce", name: "cross-entropy" },
      { key: "consistency_loss", name: "consistency" },
      { key: "diversity_loss", name: "diversity" },
      { key: "cost_loss", name: "cost" },
      { key: "target_rate_loss", name: "target rate" },
    ],
    yTitle: "Loss",
    tickFormat: null,
    hoverFormat: ".4f",
  },
  {
    id: "lr",
    title: "Learning rate",
    explain: "The learning rate of each epoch, as scheduled.",
    series: [{ key: "lr", name: "learning rate" }],
    yTitle: "Learning rate",
    tickFormat: ".2~g",
    hoverFormat: ".3~g",
  },
];

export function renderTraining(root) {
  for (const model of shownModels()) ensureTraining(model.id);
  trainingView(root);
}

// Drawn again when the shown models or the state of one's curves changes.
const trainingView = whenChanged(() => shownModels().map((m) => [m.id, entryState(state.training[m.id])]), drawTraining);

function drawTraining(root) {
  const entries = shownModels().map((model) => ({ model, entry: state.training[model.id] }));
  for (const plot of root.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(plot);
  const problems = entries.filter(({ entry }) => !entry?.data);
  if (problems.length) {
    fill(root, problems.map(({ model, entry }) => statusCard(model, entry)));
    return;
  }
  const runs = entries.map(({ model, entry }, i) => ({ name: model.id, origin: model.origin, log: entry.data, dash: i ? "dash" : "solid" }));
  const weighted = runs.every((run) => run.log.loss_weights);
  const empty = runs.filter((run) => !run.log.epochs.length);
  const pending = [];
  fill(
    root,
    summaryCard(runs),
    runs.length > empty.length
      ? PANELS.map((panel) => {
          const div = el("div", { class: "chart", id: `training-${panel.id}`, dataset: { state: "loading" } });
          const shownRuns = panel.weighted && weighted ? runs.map(weightedRun) : runs;
          const explain = panel.weighted && !weighted ? panel.unweightedExplain : panel.explain;
          pending.push({ div, figure: trainingFigure(shownRuns, panel) });
          return el(
            "section",
            { class: "card chart-card", dataset: { chart: `training-${panel.id}` } },
            el(
              "div",
              { class: "card-head" },
              el("h3", { text: panel.title }),
              exportButtons({
                chart: () => div,
                title: `${panel.title} · ${runs.map((run) => run.name).join(" vs ")}`,
                csv: () => trainingCsv(shownRuns, panel),
              }),
              el("p", { class: "explain", text: explain }),
            ),
            div,
            undrawnNote(shownRuns, panel),
          );
        })
      : null,
  );
  for (const { div, figure } of pending) {
    window.Plotly.newPlot(div, figure.data, figure.layout, STATIC_CONFIG).then(() => {
      div.dataset.state = "ready";
      div.dataset.traces = String(figure.data.length);
    });
  }
}

/** A run whose loss columns are multiplied by the weights it was trained with
 * (`log.loss_weights`): what the optimiser saw. The other columns are as logged. */
export function weightedRun(run) {
  const weights = run.log.loss_weights;
  const epochs = run.log.epochs.map((row) => {
    const out = { ...row };
    for (const [key, weight] of Object.entries(weights)) {
      if (typeof row[key] === "number") out[key] = row[key] * weight;
    }
    return out;
  });
  return { ...run, log: { ...run.log, epochs } };
}

/**
 * The terms a run logged but the panel cannot draw (at 0 every epoch, on a log axis),
 * named under the chart: a term switched off is not acting, not missing.
 */
function undrawnNote(runs, panel) {
  if (!panel.log) return null;
  const undrawn = runs.map((run) =>
    panel.series
      .filter((series) => run.log.epochs.some((row) => typeof row[series.key] === "number"))
      .filter((series) => !run.log.epochs.some((row) => drawnValue(row[series.key], panel)))
      .map((series) => series.name)
      .join(", "),
  );
  const why = "at 0 every epoch (not acting; no place on a log scale)";
  let text;
  if (undrawn.every((names) => names === undrawn[0])) {
    text = undrawn[0] && `${undrawn[0]} ${why}${runs.length > 1 ? " in both runs" : ""}.`;
  } else {
    text = runs.map((run, i) => (undrawn[i] ? `${run.name}: ${undrawn[i]} ${why}.` : "")).filter(Boolean).join(" ");
  }
  return text ? el("p", { class: "hint undrawn-note", text }) : null;
}

/** A panel's series per epoch, one row per run and epoch. */
function trainingCsv(runs, panel) {
  return {
    name: `training-${panel.id}-${runs.map((run) => run.name).join("-vs-")}`,
    columns: ["model", "epoch", ...panel.series.map((series) => series.key)],
    rows: runs.flatMap((run) =>
      run.log.epochs.map((row) => [run.name, row.epoch, ...panel.series.map((series) => row[series.key])]),
    ),
  };
}

function summaryCard(runs) {
  return el(
    "section",
    { class: "card training-summary" },
    el("div", { class: "card-head" }, el("h3", { text: "Training curves" })),
    runs.map((run) =>
      el(
        "p",
        { class: "hint", dataset: { model: run.name } },
        el("b", { text: run.name }),
        run.log.epochs.length
          ? `: ${run.log.epochs.length} epochs from metrics.jsonl; the served checkpoint is from epoch ${run.log.checkpoint_epoch} (dotted line)${runs.length > 1 ? `, ${run.dash === "solid" ? "solid" : "dashed"} lines` : ""}.`
          : run.origin
            ? `: imported from ${run.origin.source_file} (${run.origin.repository}), not trained here, so there are no training curves.`
            : ": the run folder has no readable metrics.jsonl, so there are no curves to show.",
        run.log.skipped_lines ? ` ${run.log.skipped_lines} unreadable line(s) of metrics.jsonl were skipped.` : "",
      ),
    ),
  );
}

function statusCard(model, entry) {
  if (entry?.error) {
    return el(
      "div",
      { class: "card error-box" },
      `Could not load the training curves of ${model.id}: ${entry.error} `,
      el("button", { type: "button", class: "button small", onclick: () => forget("training", model.id) }, "Try again"),
    );
  }
  return el("div", { class: "card loading-box" }, el("span", { class: "spinner" }), `Loading the training curves of ${model.id}…`);
}

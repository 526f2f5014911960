// DOM wiring: start-up, the checkpoint picker, tabs and toolbar; each tab renders itself.

import { getHealth, getMeasures, getModels } from "./api.js";
import { renderClasses } from "./classview.js";
import { $, $$, el, fill } from "./dom.js";
import { initFind, restoreFind } from "./find.js";
import { datasetName, formatMacs, formatNumber, formatPercent, networkName, networkSummary, originText, plural } from "./format.js";
import { renderMeasureComparison } from "./measuresview.js";
import { hideHoverCard } from "./hovercard.js";
import { renderRouting } from "./routingview.js";
import { whenChanged } from "./rerender.js";
import { modelById, readHash, shownModels, state, subscribe, update } from "./state.js";
import { renderFormation } from "./formationview.js";
import { renderTraining } from "./trainingview.js";
import { renderTradeoff } from "./tradeoffview.js";
import { initUpload, renderUpload, syncUpload } from "./uploadview.js";

// -- render scheduling: many updates in a row give one render ---------------------------

let scheduled = false;

function scheduleRender() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    render();
  });
}

function render() {
  renderStatus();
  renderModelsTable();
  renderTabs();
  renderToolbar();
  renderChips();
  if (!shownModels().length) return;
  const panel = $(`#tab-${state.tab}`);
  if (state.tab === "routing") renderRouting($("#routing-grid"));
  else if (state.tab === "classes") {
    renderMeasureComparison($("#measures-compare"));
    renderTradeoff($("#tradeoff"));
    renderClasses($("#classes-grid"));
  }
  else if (state.tab === "training") renderTraining($("#training-grid"));
  else if (state.tab === "formation") renderFormation($("#formation-grid"));
  else renderUpload($("#upload-grid"));
  syncUpload();
  resizeShownTab(panel);
}

// Plots drawn or resized while their tab was hidden need their size again when it shows.
const resizeShownTab = whenChanged(
  () => state.tab,
  (panel) =>
    requestAnimationFrame(() => {
      for (const plot of $$(".js-plotly-plot", panel)) window.Plotly.Plots.resize(plot);
    }),
);

// -- status and errors -----------------------------------------------------------------

export function showBanner(message) {
  const banner = $("#banner");
  $(".banner-text", banner).textContent = message;
  banner.hidden = false;
}

function renderStatus() {
  const node = $("#server-status");
  if (state.modelsError) {
    node.className = "topbar-status bad";
    node.textContent = "Server unreachable";
  } else if (state.health) {
    node.className = "topbar-status ok";
    node.textContent = `${plural(state.models.length, "checkpoint")} · server ok`;
  }
}

// -- checkpoint picker -------------------------------------------------------------------

function renderModelsTable() {
  const body = $("#models-body");
  modelsTable(body);
  if (state.modelsError) return;
  for (const row of $$("tr[data-model]", body)) {
    const id = row.dataset.model;
    const primary = id === state.modelId;
    const compared = id === state.compareId;
    row.classList.toggle("selected", primary);
    row.classList.toggle("compared", compared);
    $("input[type=radio]", row).checked = primary;
    const box = $("input[type=checkbox]", row);
    box.checked = compared;
    box.disabled = primary;
  }
}

// Built again when the checkpoints served (or the error listing them) change; before the
// server's health is in there is nothing to say.
const modelsTable = whenChanged(
  () => (state.modelsError ? { error: state.modelsError } : state.health ? state.models.map((m) => m.id) : null),
  (body) => {
    if (state.modelsError) {
      fill(body, el("tr", { class: "placeholder-row" }, el("td", { colspan: "10", class: "error-text", text: state.modelsError })));
    } else if (state.health && !state.models.length) {
      fill(
        body,
        el(
          "tr",
          { class: "placeholder-row" },
          el("td", { colspan: "10" }, "No checkpoints found under ", el("code", { text: state.health.runs_dir || "runs" }), ". Train one with ", el("code", { text: "make train-demo" }), "."),
        ),
      );
    } else if (state.health) {
      fill(body, state.models.map(modelRow));
    }
  },
);

function modelRow(model) {
  const m = model.metrics || {};
  const blocks = m.mean_executed_blocks;
  const macs = m.mean_macs;
  const radio = el("input", { type: "radio", name: "model-pick", value: model.id, "aria-label": `Show ${model.id}` });
  radio.addEventListener("change", () => pickModel(model.id));
  const box = el("input", { type: "checkbox", value: model.id, "aria-label": `Compare with ${model.id}` });
  box.addEventListener("change", () => update({ compareId: box.checked ? model.id : null }));
  const row = el(
    "tr",
    { dataset: { model: model.id } },
    el("td", { class: "col-pick" }, radio),
    el("th", { scope: "row" }, el("span", { class: "model-name", text: model.id })),
    el("td", { text: datasetName(model.dataset) }),
    el("td", { title: originText(model), text: networkSummary(model) }),
    el("td", { class: "num", text: formatPercent(m.accuracy) }),
    el("td", { class: "num", text: blocks !== undefined && blocks !== null ? `${formatNumber(blocks, 2)} of ${model.num_gates}` : "–" }),
    el(
      "td",
      { class: "num", title: `full network: ${formatMacs(model.full_macs)}` },
      macs !== undefined && macs !== null ? `${formatMacs(macs)} · ${formatPercent(macs / model.full_macs, 0)}` : formatMacs(model.full_macs),
    ),
    el("td", { class: "num", text: m.unique_paths !== undefined ? String(m.unique_paths) : "–" }),
    el("td", { class: "num", title: originText(model), text: model.origin ? "imported" : String(model.epoch) }),
    el("td", { class: "col-pick" }, box),
  );
  row.addEventListener("click", (event) => {
    if (event.target.closest("input, button, a, label")) return;
    pickModel(model.id);
  });
  return row;
}

function pickModel(id) {
  if (id === state.modelId) return;
  update({ modelId: id, compareId: state.compareId === id ? null : state.compareId });
}

function renderChips() {
  modelChips($("#model-chips"));
}

// Built again when the shown models change.
const modelChips = whenChanged(() => shownModels().map((m) => m.id), (node) =>
  fill(
    node,
    shownModels().map((model, i) =>
      el(
        "span",
        { class: `chip ${i ? "chip-b" : "chip-a"}`, title: `${datasetName(model.dataset)} · ${networkName(model)}` },
        i ? "vs " : "",
        el("b", { text: model.id }),
        i
          ? el("button", { type: "button", class: "chip-close", "aria-label": "Stop comparing", onclick: () => update({ compareId: null }) }, "×")
          : null,
      ),
    ),
  ),
);

// -- tabs and toolbar ------------------------------------------------------------------

function renderTabs() {
  for (const button of $$(".tab")) {
    const active = button.dataset.tab === state.tab;
    button.classList.toggle("active", active);
    button.setAttribute("aria-selected", String(active));
    button.tabIndex = active ? 0 : -1;
  }
  const none = Boolean(state.health) && !state.models.length;
  $(".tabs").hidden = none;
  for (const panel of $$(".tabpanel")) panel.hidden = none || panel.id !== `tab-${state.tab}`;
}

function renderToolbar() {
  for (const [id, value] of [
    ["#dataset-split-switch", state.datasetSplit],
    ["#method-switch", state.method],
    ["#color-switch", state.color],
    ["#drag-switch", state.dragmode],
  ]) {
    for (const button of $$("button", $(id))) {
      const on = button.dataset.value === value;
      button.classList.toggle("active", on);
      button.setAttribute("role", "radio");
      button.setAttribute("aria-checked", String(on));
      // One Tab stop per group, on its checked button; arrow keys move within it.
      button.tabIndex = on ? 0 : -1;
    }
  }
  $("#density-toggle").checked = state.density === "on";
  const comparing = shownModels().length === 2;
  const toggle = $("#second-map-toggle");
  toggle.checked = Boolean(state.secondMethod) && !comparing;
  toggle.disabled = comparing;
  $("#second-method").disabled = comparing || !state.secondMethod;
  $("#second-method").value = state.secondMethod || otherMethod(state.method);
  $("#second-map-control").title = comparing
    ? "Not available while two checkpoints are compared"
    : "Show a second map of the same model; selections are linked";
}

/**
 * Choosing another dataset split: every per-split result is fetched again for it (the
 * server keeps both), and a selection, a shown sample or an upload's neighbours, which
 * belong to the old split's images, are dropped or routed again.
 */
function datasetSplitPatch(split) {
  if (split === state.datasetSplit) return {};
  return {
    datasetSplit: split,
    paths: {},
    metrics: {},
    importance: {},
    embeddings: {},
    selection: null,
    detail: null,
    upload: state.upload && { ...state.upload, results: {} },
  };
}

function otherMethod(method) {
  return method === "pca" ? "umap" : "pca";
}

function initControls() {
  for (const button of $$(".tab")) {
    button.addEventListener("click", () => {
      hideHoverCard();
      update({ tab: button.dataset.tab });
    });
    button.addEventListener("keydown", (event) => {
      const tabs = $$(".tab");
      const i = tabs.indexOf(button);
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        const next = tabs[(i + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        next.focus();
        update({ tab: next.dataset.tab });
      }
    });
  }
  const segmented = [
    ["#dataset-split-switch", datasetSplitPatch],
    ["#method-switch", (value) => ({ method: value, secondMethod: state.secondMethod === value ? otherMethod(value) : state.secondMethod })],
    ["#color-switch", (value) => ({ color: value })],
    ["#drag-switch", (value) => ({ dragmode: value })],
  ];
  for (const [id, patch] of segmented) {
    $(id).addEventListener("click", (event) => {
      const button = event.target.closest("button[data-value]");
      if (button) update(patch(button.dataset.value));
    });
    $(id).addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      const buttons = $$("button[data-value]", $(id));
      const at = buttons.indexOf(document.activeElement);
      const next = buttons[(Math.max(at, 0) + step + buttons.length) % buttons.length];
      update(patch(next.dataset.value));
      next.focus();
    });
  }
  $("#density-toggle").addEventListener("change", (event) => update({ density: event.target.checked ? "on" : "off" }));
  $("#second-map-toggle").addEventListener("change", (event) => {
    const wanted = $("#second-method").value;
    update({ secondMethod: event.target.checked ? (wanted !== state.method ? wanted : otherMethod(state.method)) : null });
  });
  $("#second-method").addEventListener("change", (event) => {
    const value = event.target.value;
    update({ secondMethod: value === state.method ? otherMethod(value) : value });
  });
  $(".banner-close").addEventListener("click", () => ($("#banner").hidden = true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hideHoverCard();
  });
  window.addEventListener("scroll", hideHoverCard, { passive: true });
}

// -- start -----------------------------------------------------------------------------

async function start() {
  if (!window.Plotly) {
    showBanner("plotly.js did not load (/vendor/plotly.min.js); the charts cannot be drawn.");
    return;
  }
  subscribe(scheduleRender);
  initControls();
  initUpload();
  initFind();
  const wanted = readHash();
  update(choicesOf(wanted), { replace: true });
  let models;
  let health;
  let measures;
  try {
    [models, health, measures] = await Promise.all([getModels(), getHealth(), getMeasures()]);
  } catch (error) {
    update({ modelsError: `Could not load the checkpoints: ${error.message}` });
    showBanner(`Could not load the checkpoints: ${error.message}`);
    return;
  }
  const unloadable = Object.entries(health.unloadable || {});
  if (unloadable.length) {
    showBanner(
      `${plural(unloadable.length, "checkpoint")} could not be loaded: ` +
        unloadable.map(([name, why]) => `${name} (${why})`).join("; "),
    );
  }
  update({ models, health, measures, ...viewOf(wanted, models) }, { replace: true });
  restoreFind(wanted.find);
  // Back, Forward and an edited address change the view: the URL is the view's.
  window.addEventListener("hashchange", showHashView);
  window.addEventListener("popstate", showHashView);
}

/** The toolbar's choices of a URL hash (readHash). */
function choicesOf(wanted) {
  return {
    ...datasetSplitPatch(wanted.datasetSplit),
    tab: wanted.tab,
    method: wanted.method,
    secondMethod: wanted.secondMethod === wanted.method ? null : wanted.secondMethod,
    color: wanted.color,
    dragmode: wanted.dragmode,
    flip: wanted.flip,
    density: wanted.density,
  };
}

/** The whole view of a URL hash but its Find (restoreFind), checked against the
 * checkpoints served: unknown models fall back to the first, and the shown sample is
 * kept (with its augmented views, and its forced path's answer) when the hash names the
 * same one. */
function viewOf(wanted, models = state.models) {
  const ids = models.map((m) => m.id);
  const modelId = ids.includes(wanted.modelId) ? wanted.modelId : ids[0] || null;
  const compareId = ids.includes(wanted.compareId) && wanted.compareId !== modelId ? wanted.compareId : null;
  const sampleModelId = wanted.sampleModelId && [modelId, compareId].includes(wanted.sampleModelId) ? wanted.sampleModelId : modelId;
  const patch = { ...choicesOf(wanted), modelId, compareId };
  const kept =
    state.detail?.modelId === sampleModelId &&
    state.detail.sampleId === wanted.sampleId &&
    wanted.datasetSplit === state.datasetSplit;
  // A forced path read from the URL has no answer yet: the side panel routes it.
  const forced = wanted.forced && { path: wanted.forced };
  if (!kept) {
    patch.detail = wanted.sampleId !== null && modelId ? { modelId: sampleModelId, sampleId: wanted.sampleId, forced } : null;
  } else if ((state.detail.forced?.path ?? null) !== wanted.forced) {
    patch.detail = { ...state.detail, forced };
  }
  return patch;
}

function showHashView() {
  if (!state.models.length) return;
  hideHoverCard();
  const wanted = readHash();
  const view = viewOf(wanted);
  if (view.detail) view.sideTab = "sample";
  update(view, { replace: true });
  restoreFind(wanted.find);
}

// Exposed for debugging in the console and for the browser tests.
window.codinet = { state, update, modelById };

start();

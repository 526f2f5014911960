// The "Routing space" tab: the scatter plot(s), the hover card, the clicked-sample detail
// and the selection summary.

import {
  describeClasses,
  executedRange,
  groupMarkers,
  indicesOfIds,
  joinSamples,
  markerCaption,
  markerSize,
  nearestPaths,
  nearestSamples,
  summarize,
  tableSamples,
} from "./data.js";
import { routeSample } from "./api.js";
import { $, el, fill, stat, thumbnail } from "./dom.js";
import {
  COLOR_MODE_NAMES,
  METHOD_NAMES,
  classColor,
  formatMacs,
  formatNumber,
  formatPercent,
  plural,
} from "./format.js";
import { ensureEmbedding, ensurePaths, forget } from "./loader.js";
import { exportButtons } from "./export.js";
import { flipBlock, interventionSummary } from "./intervention.js";
import { miniPath, pathDiagram } from "./pathdiagram.js";
import { PLOT_CONFIG, scatterFigure } from "./plots.js";
import {
  embeddingKey,
  modelById,
  sameSamples,
  scatterSlots,
  shownModels,
  state,
  update,
} from "./state.js";

export const WEBGL = detectWebGL();

function detectWebGL() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
  } catch {
    return false;
  }
}

// -- memoised joins ------------------------------------------------------------------

const joinMemo = new Map();
const groupMemo = new Map();
const tableMemo = new Map();

/** The samples of a slot's embedding joined with the model's paths table, or null. */
export function slotSamples(modelId, method) {
  const emb = state.embeddings[embeddingKey(modelId, method)]?.data;
  if (!emb) return null;
  const table = state.paths[modelId]?.data || null;
  const key = embeddingKey(modelId, method);
  const memo = joinMemo.get(key);
  if (memo && memo.emb === emb && memo.table === table) return memo.samples;
  const samples = joinSamples(emb, table);
  joinMemo.set(key, { emb, table, samples });
  return samples;
}

/** The markers of a slot in the current colour mode. */
export function slotMarkers(modelId, method, samples, color) {
  // Cost colours span the executed blocks seen in every shown model, so the same count
  // has the same colour side by side.
  const costRange =
    color === "cost"
      ? executedRange(
          scatterSlots()
            .map((slot) => slotSamples(slot.modelId, slot.method))
            .concat([samples])
            .filter(Boolean),
        )
      : null;
  const key = `${embeddingKey(modelId, method)}|${color}|${costRange}`;
  const memo = groupMemo.get(key);
  if (memo && memo.samples === samples) return memo.grouped;
  const model = modelById(modelId);
  const grouped = groupMarkers(samples, color, {
    classNames: model.class_names,
    numGates: model.num_gates,
    costRange,
  });
  groupMemo.set(key, { samples, grouped });
  return grouped;
}

/** A model's samples from its paths table (for details and summaries), or null. */
export function modelSamples(modelId) {
  const table = state.paths[modelId]?.data;
  if (!table) return null;
  const memo = tableMemo.get(modelId);
  if (memo && memo.table === table) return memo.samples;
  const samples = tableSamples(table);
  tableMemo.set(modelId, { table, samples });
  return samples;
}

/** [group index, marker index] of the marker holding sample index `i`. */
function markerOf(grouped, i) {
  if (!grouped.markerOf) {
    grouped.markerOf = new Map();
    grouped.groups.forEach((group, g) =>
      group.markers.forEach((marker, m) => {
        for (const s of marker.samples) grouped.markerOf.set(s, [g, m]);
      }),
    );
  }
  return grouped.markerOf.get(i) || null;
}

// -- the view --------------------------------------------------------------------------

const DRAG_HINTS = {
  zoom: "drag to zoom, double-click to zoom out.",
  pan: "drag to pan, double-click to zoom out.",
  select: "drag a box to summarise samples.",
  lasso: "draw around samples to summarise them.",
};

const slotViews = [];
const sideViews = [];
let selectionVersion = 0;
let sideTab = "sample";

export function renderRouting(root) {
  const slots = scatterSlots();
  const models = shownModels();
  const mode = models.length === 2 ? "compare" : slots.length === 2 ? "split" : "single";
  root.className = `routing-grid layout-${mode}`;
  while (slotViews.length < slots.length) slotViews.push(createSlotView(root, slotViews.length));
  while (slotViews.length > slots.length) {
    const view = slotViews.pop();
    window.Plotly.purge(view.plot);
    view.card.remove();
  }
  while (sideViews.length < models.length) sideViews.push(createSideView(root, sideViews.length));
  while (sideViews.length > models.length) sideViews.pop().card.remove();
  slots.forEach((slot, i) => renderSlot(slotViews[i], slot, mode));
  models.forEach((model, i) => renderSide(sideViews[i], model, mode));
}

function createSlotView(root, index) {
  const title = el("h3", { class: "plot-title" });
  const subtitle = el("span", { class: "plot-subtitle" });
  const plot = el("div", {
    class: "scatter",
    id: `scatter-${index}`,
    dataset: { state: "loading", slot: String(index) },
    tabindex: "0",
    role: "application",
    "aria-roledescription": "map of the routing paths",
    "aria-label": "Map of the routing paths. Arrow keys step through the most common paths, most common first, and show one image of each.",
  });
  const overlay = el("div", { class: "plot-overlay", hidden: true });
  const foot = el("p", { class: "plot-foot" });
  const reset = el("button", { type: "button", class: "button small", title: "Zoom out to the whole map" }, "Reset view");
  reset.addEventListener("click", () => {
    if (view.plotted) window.Plotly.relayout(plot, { "xaxis.autorange": true, "yaxis.autorange": true });
  });
  const exports = exportButtons({
    chart: () => plot,
    title: () => `${title.textContent} · ${subtitle.textContent}`,
    csv: () => mapCsv(view),
  });
  const card = el(
    "section",
    { class: "card plot-card", style: { gridArea: `p${index}` } },
    el("div", { class: "plot-head" }, title, subtitle, exports, reset),
    el("div", { class: "plot-stage" }, plot, overlay),
    foot,
  );
  root.append(card);
  const view = { card, title, subtitle, plot, overlay, foot, sig: null, plotted: false, ctx: null, seq: 0 };
  plot.addEventListener("mouseleave", hideHoverCard);
  plot.addEventListener("keydown", (event) => stepThroughPaths(view, event));
  // The card's width changes with the layout (a second map or model appears or goes),
  // not only with the window: Plotly must learn of it to redraw at the new size.
  new ResizeObserver(() => {
    if (view.plotted && plot.offsetWidth > 0) window.Plotly.Plots.resize(plot);
  }).observe(plot);
  return view;
}

function renderSlot(view, slot, mode) {
  const model = modelById(slot.modelId);
  ensurePaths(slot.modelId);
  const key = embeddingKey(slot.modelId, slot.method);
  const entry = ensureEmbedding(slot.modelId, slot.method);
  const methodName = METHOD_NAMES[slot.method];
  // With too few distinct paths the server draws PCA instead, and says so: name what is drawn.
  const fallback = entry.data?.params?.fallback ?? null;
  const drawnMethod = fallback ? "pca" : slot.method;
  const drawnName = METHOD_NAMES[drawnMethod];
  view.title.textContent = mode === "compare" ? model.id : `${drawnName} map of the routing paths`;
  view.title.className = `plot-title${mode === "compare" ? ` model-${model.id === state.modelId ? "a" : "b"}` : ""}`;
  view.subtitle.textContent =
    mode === "compare" ? `${drawnName} · ${COLOR_MODE_NAMES[state.color].toLowerCase()}` : model.id;
  view.plot.dataset.method = slot.method;
  view.plot.dataset.drawn = drawnMethod;
  view.plot.dataset.model = slot.modelId;

  if (entry.error) {
    view.plot.dataset.state = "error";
    showOverlay(view, "error", `Could not compute the ${methodName} map: ${entry.error}`, () => {
      forget("embeddings", key);
    });
    return;
  }
  const samples = slotSamples(slot.modelId, slot.method);
  if (!samples) {
    view.plot.dataset.state = "loading";
    const job = entry.job;
    const progress = job ? job.progress : 0;
    const text =
      job && job.status === "queued"
        ? `Waiting to compute the ${methodName} map…`
        : job
          ? `Computing the ${methodName} map…`
          : `Loading the ${methodName} map…`;
    showOverlay(view, "progress", text, null, progress);
    return;
  }
  view.overlay.hidden = true;

  const grouped = slotMarkers(slot.modelId, slot.method, samples, state.color);
  const selected = selectionFor(slot.modelId, samples);
  const ring = ringFor(slot.modelId, samples, grouped);
  const star = starFor(slot.modelId, slot.method);
  const sig = [
    key,
    state.color,
    state.dragmode,
    state.selection ? state.selection.version : 0,
    ring ? `${ring.x},${ring.y}` : "",
    star ? `${star.kind}:${star.x},${star.y}` : "",
    state.paths[slot.modelId]?.data ? 1 : 0,
    grouped.groups.map((g) => g.color).join(","),
  ].join("|");
  view.ctx = { slot, samples, grouped, model };
  fill(
    view.foot,
    fallback
      ? el("span", {
          class: "fallback-note",
          text: `${methodName} was asked for, but the model takes only ${plural(grouped.pathCount, "distinct path")}, too few for it: PCA is drawn instead. `,
        })
      : null,
    el("b", { text: plural(samples.n, "sample") }),
    ` · ${plural(grouped.pathCount, "distinct path")} · ${plural(grouped.markerCount, "marker")}`,
    " (one per path and colour group, area growing with its samples). ",
    `Hover for images, click for details, ${DRAG_HINTS[state.dragmode]} `,
    "Legend: click hides a group, double-click isolates it.",
  );
  if (sig === view.sig) return;
  view.sig = sig;
  const figure = scatterFigure(grouped, {
    method: drawnMethod,
    legendTitle: legendTitle(model),
    dragmode: state.dragmode,
    uirevision: key,
    selected,
    ring,
    upload: star,
    webgl: WEBGL,
  });
  // Traces keep their legend visibility across redraws only within one colour mode.
  figure.data.forEach((trace, i) => {
    trace.uid = `${state.color}-${grouped.groups[i]?.id ?? `extra${i}`}`;
  });
  const seq = ++view.seq;
  const drawn = view.plotted
    ? window.Plotly.react(view.plot, figure.data, figure.layout, PLOT_CONFIG)
    : window.Plotly.newPlot(view.plot, figure.data, figure.layout, PLOT_CONFIG).then((gd) => {
        attachPlotEvents(view);
        return gd;
      });
  view.plotted = true;
  drawn.then(() => {
    if (seq !== view.seq) return;
    Object.assign(view.plot.dataset, {
      state: "ready",
      markers: String(grouped.markerCount),
      paths: String(grouped.pathCount),
      samples: String(samples.n),
      groups: String(grouped.groups.length),
      color: state.color,
      upload: star?.kind === "upload" ? "1" : "0",
      forced: star?.kind === "forced" ? "1" : "0",
      renderer: WEBGL ? "webgl" : "svg",
    });
  });
}

export function legendTitle(model) {
  return state.color === "cost" ? `Executed blocks (of ${model.num_gates})` : COLOR_MODE_NAMES[state.color];
}

function showOverlay(view, kind, text, retry = null, progress = null) {
  const overlay = view.overlay;
  overlay.hidden = false;
  overlay.className = `plot-overlay is-${kind}`;
  const children = [el("p", { class: "overlay-text", text })];
  if (kind === "progress") {
    const pct = Math.round((progress || 0) * 100);
    children.push(
      el(
        "div",
        {
          class: "progress",
          role: "progressbar",
          "aria-valuemin": "0",
          "aria-valuemax": "100",
          "aria-valuenow": String(pct),
        },
        el("div", { class: "progress-bar", style: { width: `${Math.max(3, pct)}%` } }),
      ),
      el("p", { class: "overlay-hint", text: `${pct}% · the rest of the page stays usable` }),
    );
  }
  if (retry) children.push(el("button", { type: "button", class: "button", onclick: retry }, "Try again"));
  fill(overlay, el("div", { class: "overlay-box" }, children));
}

/** Forget the selection and remove the box or lasso outline from every map. */
function clearSelection() {
  for (const view of slotViews) {
    if (view.plotted) window.Plotly.relayout(view.plot, { selections: [] });
  }
  update({ selection: null });
}

function selectionFor(modelId, samples) {
  const sel = state.selection;
  if (!sel || !(sel.modelId === modelId || sameSamples(sel.modelId, modelId))) return null;
  return new Set(indicesOfIds(samples, sel.ids));
}

function detailFor(modelId) {
  const detail = state.detail;
  if (!detail || !(detail.modelId === modelId || sameSamples(detail.modelId, modelId))) return null;
  return detail;
}

function ringFor(modelId, samples, grouped) {
  const detail = detailFor(modelId);
  if (!detail) return null;
  const i = samples.indexOf.get(detail.sampleId);
  if (i === undefined) return null;
  const where = markerOf(grouped, i);
  if (!where) return null;
  const marker = grouped.groups[where[0]].markers[where[1]];
  return { x: marker.x, y: marker.y, size: markerSize(marker.samples.length, grouped.maxCount) };
}

/** The star on a map: the shown sample on its forced path, else the uploaded image. */
function starFor(modelId, method) {
  const detail = state.detail;
  const forced = detail?.modelId === modelId ? detail.forced?.result : null;
  const moved = forced?.path === detail?.forced?.path ? forced?.embedding?.[method] : null;
  if (moved) return { x: moved.x, y: moved.y, name: `#${detail.sampleId} on the forced path`, kind: "forced" };
  const placed = state.upload?.results?.[modelId]?.result?.embedding?.[method];
  return placed ? { x: placed.x, y: placed.y, name: "Your image", kind: "upload" } : null;
}

function pointMarker(view, point) {
  const ctx = view.ctx;
  if (!ctx || !point || point.curveNumber >= ctx.grouped.groups.length) return null;
  const group = ctx.grouped.groups[point.curveNumber];
  const marker = group.markers[point.pointIndex ?? point.pointNumber];
  return marker ? { group, marker } : null;
}

function attachPlotEvents(view) {
  const plot = view.plot;
  plot.on("plotly_hover", (event) => {
    const point = event?.points?.[0];
    const found = pointMarker(view, point);
    if (found) showHoverCard(view, point, found.group, found.marker, event.event);
  });
  plot.on("plotly_unhover", hideHoverCard);
  plot.on("plotly_click", (event) => {
    const found = pointMarker(view, event?.points?.[0]);
    if (!found) return;
    hideHoverCard();
    const { samples, slot } = view.ctx;
    sideTab = "sample";
    update({ detail: { modelId: slot.modelId, sampleId: samples.sampleIds[found.marker.samples[0]] } });
  });
  plot.on("plotly_selected", (event) => {
    if (!event || !event.points) return;
    const { samples, slot, grouped } = view.ctx;
    const ids = new Set();
    for (const point of event.points) {
      if (point.curveNumber >= grouped.groups.length) continue;
      const marker = grouped.groups[point.curveNumber].markers[point.pointIndex ?? point.pointNumber];
      if (marker) for (const i of marker.samples) ids.add(samples.sampleIds[i]);
    }
    sideTab = "selection";
    update({
      selection: ids.size
        ? { ids, modelId: slot.modelId, method: slot.method, version: ++selectionVersion }
        : null,
    });
  });
  plot.on("plotly_deselect", () => {
    if (state.selection) update({ selection: null });
  });
}

// -- hover card ----------------------------------------------------------------------

function showHoverCard(view, point, group, marker, mouseEvent) {
  const card = $("#hover-card");
  const { samples, model } = view.ctx;
  const path = samples.paths[marker.pathId];
  const executed = samples.executedOfPath[marker.pathId];
  const shown = marker.samples.slice(0, 4);
  fill(
    card,
    el(
      "div",
      { class: "hc-head" },
      el("span", { class: "swatch", style: { background: group.color } }),
      el("b", { text: group.name }),
      el("span", { class: "hc-muted", text: ` · ${executed} of ${path.length} blocks` }),
    ),
    el("div", { class: "hc-sub", text: markerCaption(samples, marker, model.class_names) }),
    el(
      "div",
      { class: "hc-thumbs" },
      shown.map((i) => {
        const label = model.class_names[samples.labels[i]];
        const pred = model.class_names[samples.predictions[i]];
        const ok = samples.labels[i] === samples.predictions[i];
        return el(
          "figure",
          { class: "hc-thumb" },
          thumbnail(model.id, samples.sampleIds[i], {
            size: 64,
            display: 56,
            label: `Sample ${samples.sampleIds[i]}, class ${label}`,
          }),
          el(
            "figcaption",
            {},
            el("span", { text: `#${samples.sampleIds[i]}` }),
            el("span", { class: ok ? "tone-ok" : "tone-bad", text: ` ${label}→${pred}` }),
          ),
        );
      }),
    ),
    el("div", { class: "hc-path" }, el("span", { class: "hc-muted", text: "Path " }), miniPath(path, model.stage_blocks), el("code", { text: path })),
    el("div", { class: "hc-foot", text: "label→prediction · click for details" }),
  );
  card.hidden = false;
  // Anchor at the point (works for real and synthetic hovers), else at the mouse.
  const rect = view.plot.getBoundingClientRect();
  let x;
  let y;
  try {
    x = rect.left + point.xaxis._offset + point.xaxis.d2p(point.x);
    y = rect.top + point.yaxis._offset + point.yaxis.d2p(point.y);
  } catch {
    x = mouseEvent?.clientX ?? rect.left + rect.width / 2;
    y = mouseEvent?.clientY ?? rect.top + rect.height / 2;
  }
  if (!Number.isFinite(x) || !Number.isFinite(y)) {
    x = mouseEvent?.clientX ?? rect.left;
    y = mouseEvent?.clientY ?? rect.top;
  }
  const { width, height } = card.getBoundingClientRect();
  const gap = 18;
  let left = x + gap;
  if (left + width > window.innerWidth - 8) left = x - gap - width;
  let top = y - height / 2;
  top = Math.max(8, Math.min(window.innerHeight - height - 8, top));
  card.style.left = `${Math.max(8, left)}px`;
  card.style.top = `${top}px`;
}

export function hideHoverCard() {
  const card = $("#hover-card");
  if (card) card.hidden = true;
}

// -- side panel: clicked sample and selection ---------------------------------------

function createSideView(root, index) {
  const title = el("h3", { class: "side-title" });
  const tabSample = el("button", { type: "button", class: "subtab", dataset: { side: "sample" } }, "Sample");
  const tabSelection = el("button", { type: "button", class: "subtab", dataset: { side: "selection" } }, "Selection");
  for (const button of [tabSample, tabSelection]) {
    button.addEventListener("click", () => {
      sideTab = button.dataset.side;
      sideViews.forEach((v) => (v.sig = null));
      update({});
    });
  }
  const body = el("div", { class: "side-body" });
  const card = el(
    "aside",
    { class: "card side-card", style: { gridArea: `s${index}` }, dataset: { side: String(index) } },
    el("div", { class: "side-head" }, title, el("div", { class: "subtabs" }, tabSample, tabSelection)),
    body,
  );
  root.append(card);
  return { card, title, body, tabSample, tabSelection, sig: null };
}

function renderSide(view, model, mode) {
  ensurePaths(model.id);
  const detail = detailFor(model.id);
  const selection = state.selection && (state.selection.modelId === model.id || sameSamples(state.selection.modelId, model.id)) ? state.selection : null;
  const pathsEntry = state.paths[model.id];
  const sig = [
    model.id,
    mode,
    sideTab,
    detail ? `${detail.modelId}:${detail.sampleId}:${forcedSig(detail.forced)}` : "",
    selection ? selection.version : 0,
    pathsEntry?.data ? "data" : pathsEntry?.error ? "error" : "pending",
  ].join("|");
  if (sig === view.sig) return;
  view.sig = sig;
  view.title.textContent = mode === "compare" ? model.id : "Details";
  view.title.className = `side-title${mode === "compare" ? ` model-${model.id === state.modelId ? "a" : "b"}` : ""}`;
  view.tabSample.classList.toggle("active", sideTab === "sample");
  view.tabSelection.classList.toggle("active", sideTab === "selection");
  view.tabSelection.textContent = selection ? `Selection (${selection.ids.size})` : "Selection";
  view.body.scrollTop = 0;
  if (pathsEntry?.error) {
    fill(view.body, el("p", { class: "error-box", text: `Could not load the paths: ${pathsEntry.error}` }));
    return;
  }
  const samples = modelSamples(model.id);
  if (!samples) {
    fill(view.body, el("p", { class: "hint", text: "Loading the paths…" }));
    return;
  }
  if (sideTab === "sample") {
    if (detail) fill(view.body, sampleDetail(model, samples, detail));
    else
      fill(
        view.body,
        emptyState(
          "No sample chosen",
          "Click a marker on the map to see one of its images, its path through the network and its nearest neighbours in routing space.",
        ),
        commonPaths(model, samples),
      );
  } else if (selection) {
    fill(view.body, selectionSummary(model, samples, selection));
  } else {
    fill(
      view.body,
      emptyState(
        "Nothing selected",
        "Choose Box select or Lasso in the toolbar and drag over the map to summarise a group of samples.",
      ),
    );
  }
}

/** The model's most used paths, each with its classes; a click shows one of its images. */
function commonPaths(model, samples) {
  const all = Array.from({ length: samples.n }, (_, i) => i);
  const summary = summarize(samples, all, { topPaths: 6 });
  const byPath = new Map();
  for (let i = 0; i < samples.n; i += 1) {
    const p = samples.pathIds[i];
    if (!byPath.has(p)) byPath.set(p, []);
    byPath.get(p).push(i);
  }
  return el(
    "div",
    { class: "common-paths" },
    el("h4", {}, "Most common paths ", el("span", { class: "count", text: `${summary.distinctPaths} in all` })),
    el(
      "ul",
      { class: "path-list" },
      summary.paths.map((entry) => {
        const members = byPath.get(entry.pathId);
        return el(
          "li",
          {},
          miniPath(entry.path, model.stage_blocks),
          el("span", { class: "pl-dist", text: `${formatPercent(entry.count / samples.n, 0)} · ${entry.count}` }),
          el("button", {
            type: "button",
            class: "link",
            text: describeClasses(samples, members, model.class_names, 3),
            title: "Show one of these images",
            onclick: () => showSample(model.id, samples.sampleIds[members[0]]),
          }),
        );
      }),
    ),
  );
}

function emptyState(title, text) {
  return el("div", { class: "empty" }, el("p", { class: "empty-title", text: title }), el("p", { class: "hint", text }));
}

/** The shown map's samples: id, class, prediction, path and place on the map. */
function mapCsv(view) {
  const { samples, slot, model } = view.ctx;
  const names = model.class_names;
  const rows = [];
  for (let i = 0; i < samples.n; i += 1) {
    const p = samples.pathIds[i];
    rows.push([samples.sampleIds[i], names[samples.labels[i]], names[samples.predictions[i]], samples.paths[p], samples.px[p], samples.py[p]]);
  }
  return {
    name: `${model.id}-test-${slot.method}`,
    columns: ["sample_id", "label", "prediction", "path", `${slot.method}_x`, `${slot.method}_y`],
    rows,
  };
}

/**
 * Keyboard access to the map: arrow keys (or N and P) step through the distinct paths,
 * most common first, showing the first image of each in the detail panel.
 */
function stepThroughPaths(view, event) {
  const step = { ArrowRight: 1, ArrowDown: 1, n: 1, ArrowLeft: -1, ArrowUp: -1, p: -1 }[event.key];
  if (!step || !view.ctx) return;
  event.preventDefault();
  const { samples, slot } = view.ctx;
  const order = samples.paths
    .map((_, pathId) => pathId)
    .sort((a, b) => samples.pathCounts[b] - samples.pathCounts[a] || a - b);
  const detail = detailFor(slot.modelId);
  const current = detail ? samples.indexOf.get(detail.sampleId) : undefined;
  const at = current === undefined ? -1 : order.indexOf(samples.pathIds[current]);
  const next = order[at < 0 ? (step > 0 ? 0 : order.length - 1) : (at + step + order.length) % order.length];
  const first = samples.pathIds.indexOf(next);
  view.plot.dataset.keyPath = String(order.indexOf(next) + 1);
  showSample(slot.modelId, samples.sampleIds[first]);
}

function showSample(modelId, sampleId) {
  sideTab = "sample";
  update({ detail: { modelId, sampleId } });
}

function forcedSig(forced) {
  return forced ? `${forced.path}:${forced.pending ? "p" : forced.error ? "e" : "r"}` : "";
}

/** Route the shown sample through `path` (its own path: back to the network's choice). */
function forceSample(modelId, sampleId, ownPath, path) {
  if (path === ownPath) {
    update({ detail: { modelId, sampleId, forced: null } });
    return;
  }
  const previous = state.detail?.forced?.result ?? null;
  const forced = { path, pending: true, result: previous };
  update({ detail: { modelId, sampleId, forced } });
  const settle = (patch) => {
    // A later click (or another sample) wins over this answer.
    if (state.detail?.forced !== forced) return;
    update({ detail: { modelId, sampleId, forced: { path, ...patch } } });
  };
  routeSample(modelId, sampleId, path).then(
    (result) => settle({ result }),
    (error) => settle({ error: error.message || String(error) }),
  );
}

function sampleDetail(model, samples, detail) {
  const sampleId = detail.sampleId;
  const i = samples.indexOf.get(sampleId);
  if (i === undefined) return el("p", { class: "error-box", text: `Sample ${sampleId} is not in ${model.id}.` });
  const names = model.class_names;
  const path = samples.paths[samples.pathIds[i]];
  const executed = samples.executedOfPath[samples.pathIds[i]];
  const ok = samples.labels[i] === samples.predictions[i];
  const macs = samples.macs[i];
  const confidence = samples.confidences[i];
  const head = el(
    "div",
    { class: "detail-head" },
    el("img", {
      class: "thumb large",
      src: `/api/models/${encodeURIComponent(model.id)}/samples/${sampleId}/image?size=128`,
      width: 112,
      height: 112,
      alt: `Sample ${sampleId}, class ${names[samples.labels[i]]}`,
    }),
    el(
      "div",
      { class: "stats" },
      stat("Sample", `#${sampleId}`),
      stat("True class", names[samples.labels[i]]),
      stat(
        "Predicted",
        `${names[samples.predictions[i]]}${confidence !== null ? ` (${formatPercent(confidence)})` : ""}`,
        { tone: ok ? "ok" : "bad", title: ok ? "correct" : "misclassified" },
      ),
      stat("Executed", `${executed} of ${path.length} blocks`),
      stat("MACs", macs !== null ? `${formatMacs(macs)} · ${formatPercent(macs / model.full_macs, 0)}` : "–", {
        title: "multiply-accumulates for this image; % of the full network",
      }),
    ),
  );
  const onPath = [];
  for (let j = 0; j < samples.n; j += 1) if (samples.pathIds[j] === samples.pathIds[i] && j !== i) onPath.push(j);
  const near = nearestSamples(samples, i, 8, { otherPaths: true });
  const otherPaths = nearestPaths(samples, path, 4);
  const byPath = new Map();
  for (let j = 0; j < samples.n; j += 1) {
    const p = samples.pathIds[j];
    if (!byPath.has(p)) byPath.set(p, []);
    byPath.get(p).push(j);
  }
  const forced = detail.modelId === model.id ? detail.forced : null;
  const shownPath = forced ? forced.path : path;
  const force = (target) => forceSample(model.id, sampleId, path, target);
  return el(
    "div",
    { class: "detail", dataset: { sample: String(sampleId), model: model.id } },
    head,
    forced ? interventionSummary(model, forced, () => force(path)) : null,
    el("h4", { text: forced ? "Forced path through the network" : "Path through the network" }),
    el("p", { class: "hint", text: "Click a block to force it on or off: the image is routed again through that path." }),
    pathDiagram(shownPath, model.stage_blocks, {
      compareTo: forced ? path : null,
      differsLabel: "flipped from its own path",
      onToggle: (index) => force(flipBlock(shownPath, index)),
    }),
    el("h4", {}, "Same path (distance 0) ", el("span", { class: "count", text: plural(onPath.length + 1, "image") })),
    el(
      "p",
      { class: "hint same-path-note" },
      onPath.length
        ? `${plural(onPath.length, "other image")} share${onPath.length === 1 ? "s" : ""} its path exactly: ${describeClasses(samples, [i, ...onPath], names, 6)}.`
        : "No other image takes its path.",
    ),
    thumbStrip(model, samples, onPath.slice(0, 10)),
    el("h4", { text: "Nearest images on other paths" }),
    el("p", { class: "hint", text: "Nearest first, by Hamming distance between paths: the number of blocks run by one image and not the other." }),
    el(
      "div",
      { class: "neighbors" },
      near.map(({ index, distance }) =>
        neighborTile(model, samples, index, `d ${distance}`),
      ),
    ),
    otherPaths.length ? el("h4", { text: "Nearest other paths" }) : null,
    otherPaths.length
      ? el(
          "ul",
          { class: "path-list" },
          otherPaths.map((entry) =>
            el(
              "li",
              {},
              miniPath(entry.path, model.stage_blocks),
              el("span", { class: "pl-dist", text: `${plural(entry.distance, "block")} apart` }),
              el("button", {
                type: "button",
                class: "link",
                text: `${plural(entry.count, "image")}: ${describeClasses(samples, byPath.get(entry.pathId), names, 3)}`,
                onclick: () => showSample(model.id, samples.sampleIds[byPath.get(entry.pathId)[0]]),
              }),
            ),
          ),
        )
      : null,
  );
}

function neighborTile(model, samples, index, note) {
  const names = model.class_names;
  const ok = samples.labels[index] === samples.predictions[index];
  const id = samples.sampleIds[index];
  return el(
    "button",
    {
      type: "button",
      class: "tile",
      title: `Sample #${id}: class ${names[samples.labels[index]]}, predicted ${names[samples.predictions[index]]}`,
      onclick: () => showSample(model.id, id),
    },
    thumbnail(model.id, id, { size: 64, display: 52 }),
    el("span", { class: "tile-caption" }, el("span", { text: note }), " · ", el("span", { class: ok ? "tone-ok" : "tone-bad", text: names[samples.labels[index]] })),
  );
}

function thumbStrip(model, samples, indices) {
  if (!indices.length) return el("p", { class: "hint", text: "No other image takes exactly this path." });
  return el(
    "div",
    { class: "strip" },
    indices.map((j) => {
      const id = samples.sampleIds[j];
      return el(
        "button",
        { type: "button", class: "strip-item", title: `Sample #${id}, class ${model.class_names[samples.labels[j]]}`, onclick: () => showSample(model.id, id) },
        thumbnail(model.id, id, { size: 64, display: 40 }),
      );
    }),
  );
}

/** The selected samples: id, class, prediction, path, blocks run and MACs. */
function selectionCsv(model, samples, indices) {
  const names = model.class_names;
  return {
    name: `${model.id}-selection-${indices.length}`,
    columns: ["sample_id", "label", "prediction", "path", "executed_blocks", "macs"],
    rows: indices.map((i) => [
      samples.sampleIds[i],
      names[samples.labels[i]],
      names[samples.predictions[i]],
      samples.paths[samples.pathIds[i]],
      samples.executedOfPath[samples.pathIds[i]],
      samples.macs[i],
    ]),
  };
}

function selectionSummary(model, samples, selection) {
  const indices = indicesOfIds(samples, selection.ids);
  const summary = summarize(samples, indices);
  const names = model.class_names;
  const numClasses = names.length;
  const from =
    selection.modelId === model.id
      ? `on the ${METHOD_NAMES[selection.method]} map`
      : `selected on ${selection.modelId}'s ${METHOD_NAMES[selection.method]} map`;
  const maxCount = Math.max(1, ...summary.classes.map(([, k]) => k));
  let classes = summary.classes;
  if (classes.length <= 12) classes = [...classes].sort((a, b) => a[0] - b[0]);
  else classes = classes.slice(0, 12);
  return el(
    "div",
    { class: "selection", dataset: { count: String(summary.count) } },
    el(
      "div",
      { class: "selection-head" },
      el("p", {}, el("b", { text: plural(summary.count, "sample") }), ` ${from}`),
      exportButtons({ csv: () => selectionCsv(model, samples, indices) }),
      el("button", { type: "button", class: "button small", onclick: clearSelection }, "Clear"),
    ),
    el(
      "div",
      { class: "stats four" },
      stat("Accuracy", formatPercent(summary.accuracy)),
      stat("Mean blocks", `${formatNumber(summary.meanExecuted, 2)} of ${model.num_gates}`),
      stat(
        "Mean MACs",
        summary.meanMacs !== null ? `${formatMacs(summary.meanMacs)} · ${formatPercent(summary.meanMacs / model.full_macs, 0)}` : "–",
      ),
      stat("Distinct paths", String(summary.distinctPaths)),
    ),
    el("h4", { text: "True classes" }),
    el(
      "ul",
      { class: "histogram" },
      classes.map(([c, k]) =>
        el(
          "li",
          {},
          el("span", { class: "h-label", text: names[c] ?? String(c) }),
          el(
            "span",
            { class: "h-track" },
            el("span", { class: "h-bar", style: { width: `${(100 * k) / maxCount}%`, background: classColor(c, numClasses) } }),
          ),
          el("span", { class: "h-count", text: String(k) }),
        ),
      ),
    ),
    summary.classes.length > classes.length
      ? el("p", { class: "hint", text: `and ${summary.classes.length - classes.length} more classes` })
      : null,
    el("h4", { text: "Most common paths" }),
    el(
      "ul",
      { class: "path-list" },
      summary.paths.map((entry) =>
        el(
          "li",
          {},
          miniPath(entry.path, model.stage_blocks),
          el("span", { class: "pl-dist", text: `${entry.count} · ${formatPercent(entry.count / summary.count, 0)}` }),
          el("code", { class: "pl-code", text: entry.path }),
        ),
      ),
    ),
    el("h4", { text: "Examples" }),
    thumbStrip(model, samples, indices.slice(0, 12)),
  );
}

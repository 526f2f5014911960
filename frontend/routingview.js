// The "Routing space" tab: the scatter plot(s) of the routing paths, their events and
// keyboard access; the side panels (sidepanel.js) and the hover card (hovercard.js) beside.

import { markerSize, pathMembers } from "./data.js";
import { el, fill } from "./dom.js";
import { exportButtons } from "./export.js";
import { COLOR_MODE_NAMES, METHOD_NAMES, plural } from "./format.js";
import { hideHoverCard, showHoverCard } from "./hovercard.js";
import { ensureEmbedding, ensureMetrics, ensurePaths, forget } from "./loader.js";
import { WEBGL, detailFor, legendTitle, markerOf, selectionFor, slotMarkers, slotSamples } from "./mapdata.js";
import { measureStrip } from "./measuresview.js";
import { mapConfig, scatterFigure } from "./plots.js";
import { renderSides, showSample } from "./sidepanel.js";
import { embeddingKey, modelById, nextSelectionVersion, scatterSlots, shownModels, state, update } from "./state.js";
import { ensureSampleViews, sampleViews, viewPoints } from "./viewsmap.js";
import { whenChanged } from "./rerender.js";
import { attachWheelZoom, zooming } from "./wheelzoom.js";

// -- the view --------------------------------------------------------------------------

const DRAG_HINTS = {
  zoom: "drag to zoom, double-click to zoom out.",
  pan: "drag to pan, double-click to zoom out.",
  select: "drag a box to summarise samples.",
  lasso: "draw around samples to summarise them.",
};

const slotViews = [];

export function renderRouting(root) {
  ensureSampleViews();
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
  slots.forEach((slot, i) => renderSlot(slotViews[i], slot, mode));
  renderSides(root, models, mode);
  renderMeasures(root, models, mode);
}

let measures = null; // {card, strip}: the measures between the maps, while comparing

/** In Compare, both models' normalised measures between the maps and the side panels. */
function renderMeasures(root, models, mode) {
  if (mode !== "compare") {
    measures?.card.remove();
    measures = null;
    return;
  }
  if (!measures) {
    measures = { card: el("section", { class: "card routing-measures", id: "routing-measures", style: { gridArea: "m" } }), strip: measureStrip() };
    root.append(measures.card);
  }
  for (const model of models) ensureMetrics(model.id);
  measures.strip(measures.card, models[0], models[1]);
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
  const view = { card, title, subtitle, plot, overlay, foot, drawMap: whenChanged(mapReading, drawMap), plotted: false, ctx: null, seq: 0 };
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

  if ((!state.selection || state.selection.query) && view.plotted && view.plot.layout?.selections?.length) {
    // The selection was cleared (from the side panel or another map), or a Find replaced
    // it: drop the box's outline.
    window.Plotly.relayout(view.plot, { selections: [] });
  }
  const grouped = slotMarkers(slot.modelId, slot.method, samples, state.color);
  const ring = ringFor(slot.modelId, samples, grouped);
  view.ctx = { slot, samples, grouped, model, traces: view.ctx?.traces ?? [] };
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
  view.drawMap(view, {
    key,
    drawnMethod,
    ring,
    star: starFor(slot.modelId, slot.method),
    views: viewsFor(slot.modelId, slot.method, ring),
  });
}

/** What a map's drawing reads: its key, the toolbar's choices, the selection, what is
 * marked on it (ring, star, augmented views), and its markers' colours. */
function mapReading(view, { key, ring, star, views }) {
  const { slot, grouped } = view.ctx;
  return [
    key,
    state.color,
    state.dragmode,
    state.density,
    state.selection ? state.selection.version : 0,
    ring && [ring.x, ring.y],
    star && [star.kind, star.x, star.y],
    views && views.points.map((p) => [p.x, p.y, p.count]),
    Boolean(state.paths[slot.modelId]?.data),
    grouped.groups.map((g) => g.color),
  ];
}

function drawMap(view, { key, drawnMethod, ring, star, views }) {
  const { slot, samples, grouped, model } = view.ctx;
  const figure = scatterFigure(grouped, {
    method: drawnMethod,
    legendTitle: legendTitle(model),
    dragmode: state.dragmode,
    uirevision: key,
    selected: selectionFor(slot.modelId, samples),
    ring,
    upload: star,
    views,
    density: state.density === "on",
    webgl: WEBGL,
  });
  view.ctx.traces = figure.traces;
  // Traces keep their legend visibility across redraws only within one colour mode.
  figure.data.forEach((trace, i) => {
    const drawn = figure.traces[i];
    trace.uid = drawn ? `${state.color}-${grouped.groups[drawn.group].id}-${drawn.layer}` : `${state.color}-extra${i}`;
  });
  const seq = ++view.seq;
  const config = mapConfig(WEBGL, window.devicePixelRatio);
  const drawn = view.plotted
    ? window.Plotly.react(view.plot, figure.data, figure.layout, config)
    : window.Plotly.newPlot(view.plot, figure.data, figure.layout, config).then((gd) => {
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
    // A redraw in an earlier colour mode may bring back what its legend hid.
    noteLegendHidden(view);
  });
}

/**
 * Record which colour groups the map's legend hides (a click on an entry hides all of a
 * group's layers), with their samples, so a selection's summary leaves them out.
 */
function noteLegendHidden(view) {
  if (!view.ctx || !view.plot._fullData) return;
  const { grouped, traces, slot, samples } = view.ctx;
  const groups = new Set();
  view.plot._fullData.forEach((trace, i) => {
    if (traces[i] && trace.visible === "legendonly") groups.add(grouped.groups[traces[i].group].id);
  });
  const key = embeddingKey(slot.modelId, slot.method);
  const known = state.legendHidden[key];
  const same = known && known.color === state.color && known.groups.size === groups.size && [...groups].every((g) => known.groups.has(g));
  if (same || (!known && !groups.size)) return;
  const sampleIds = new Set();
  for (const group of grouped.groups) {
    if (groups.has(group.id)) for (const marker of group.markers) for (const i of marker.samples) sampleIds.add(samples.sampleIds[i]);
  }
  update({ legendHidden: { ...state.legendHidden, [key]: { color: state.color, groups, sampleIds } } });
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
function ringFor(modelId, samples, grouped) {
  const detail = detailFor(modelId);
  if (!detail) return null;
  const i = samples.indexOf.get(detail.sampleId);
  if (i === undefined) return null;
  const where = markerOf(grouped, i);
  if (!where) return null;
  const marker = grouped.groups[where[0]].markers[where[1]];
  return { x: marker.x, y: marker.y, size: markerSize(marker.samples.length, grouped) };
}

/**
 * The augmented views drawn on a map: the shown sample's, joined to its ring, else the
 * upload's, joined to its star; each only on its own model's maps (its network routed
 * them).
 */
function viewsFor(modelId, method, ring) {
  const own = sampleViews(modelId);
  if (own) return viewPoints(own, method, ring);
  if (state.detail) return null; // a shown sample's views are still on their way
  const result = state.upload?.results?.[modelId]?.result;
  return result && !result.forced ? viewPoints(result.views, method, result.embedding?.[method]) : null;
}

/** The star on a map: the shown sample on its forced path, else the uploaded image. */
function starFor(modelId, method) {
  const detail = state.detail;
  const forced = detail?.modelId === modelId ? detail.forced?.result : null;
  const moved = forced?.path === detail?.forced?.path ? forced?.embedding?.[method] : null;
  if (moved) return { x: moved.x, y: moved.y, name: `#${detail.sampleId}, forced`, kind: "forced" };
  const placed = state.upload?.results?.[modelId]?.result?.embedding?.[method];
  return placed ? { x: placed.x, y: placed.y, name: "Your image", kind: "upload" } : null;
}

/** The group and marker a Plotly point of a sample trace is, or null. */
function pointMarker(view, point) {
  const drawn = point && view.ctx?.traces[point.curveNumber];
  if (!drawn) return null;
  const group = view.ctx.grouped.groups[drawn.group];
  const marker = group.markers[drawn.markers[point.pointIndex ?? point.pointNumber]];
  return marker ? { group, marker } : null;
}

function attachPlotEvents(view) {
  const plot = view.plot;
  if (WEBGL) {
    attachWheelZoom(plot);
    // While the wheel zooms, the drawn map is scaled and Plotly's hover positions are stale.
    plot.addEventListener("wheelzoomstart", hideHoverCard);
  }
  plot.on("plotly_hover", (event) => {
    if (zooming(plot)) return;
    const point = event?.points?.[0];
    const found = pointMarker(view, point);
    if (found) showHoverCard(view, point, found.group, found.marker, event.event);
  });
  plot.on("plotly_unhover", hideHoverCard);
  plot.on("plotly_restyle", () => noteLegendHidden(view));
  plot.on("plotly_click", (event) => {
    const found = pointMarker(view, event?.points?.[0]);
    if (!found) return;
    hideHoverCard();
    const { samples, slot } = view.ctx;
    showSample(slot.modelId, samples.sampleIds[found.marker.samples[0]]);
  });
  plot.on("plotly_selected", (event) => {
    if (!event || !event.points) return;
    const { samples, slot } = view.ctx;
    const ids = new Set();
    for (const point of event.points) {
      const found = pointMarker(view, point);
      if (found) for (const i of found.marker.samples) ids.add(samples.sampleIds[i]);
    }
    update({
      sideTab: "selection",
      selection: ids.size
        ? { ids, modelId: slot.modelId, method: slot.method, version: nextSelectionVersion() }
        : null,
    });
  });
  plot.on("plotly_deselect", () => {
    if (state.selection) update({ selection: null });
  });
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
    name: `${model.id}-${state.datasetSplit}-${slot.method}`,
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
  const first = pathMembers(samples)[next][0];
  view.plot.dataset.keyPath = String(order.indexOf(next) + 1);
  showSample(slot.modelId, samples.sampleIds[first]);
}

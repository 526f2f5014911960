// The routing tab's side panel, one per shown model: the clicked sample (its image, its
// path, which can be forced, the images on its path and the nearest on other paths) or a
// summary of the selection, and the model's most common paths when nothing is chosen.

import { getNeighbors, routeSample } from "./api.js";
import {
  describeClasses,
  indicesOfIds,
  nearestPaths,
  samplesOnPath,
  pathMembers,
  summarize,
} from "./data.js";
import { el, fill, sampleImageUrl, stat, thumbnail } from "./dom.js";
import { exportButtons } from "./export.js";
import { selectFound } from "./find.js";
import { METHOD_NAMES, classColor, formatMacs, formatNumber, formatPercent, formatPrediction, plural } from "./format.js";
import { flipBlock, interventionSummary } from "./intervention.js";
import { ensurePaths, entryState } from "./loader.js";
import { detailFor, hiddenOf, modelSamples, selectedIndices } from "./mapdata.js";
import { miniPath, pathDiagram } from "./pathdiagram.js";
import { whenChanged } from "./rerender.js";
import { sameSamples, state, update } from "./state.js";
import { viewsList } from "./viewsmap.js";

const sideViews = [];

/** One side panel per shown model, in `root`. */
export function renderSides(root, models, mode) {
  ensureForcedSample();
  while (sideViews.length < models.length) sideViews.push(createSideView(root, sideViews.length));
  while (sideViews.length > models.length) sideViews.pop().card.remove();
  models.forEach((model, i) => renderSide(sideViews[i], model, mode));
}

function createSideView(root, index) {
  const title = el("h3", { class: "side-title" });
  const tabSample = el("button", { type: "button", class: "subtab", dataset: { side: "sample" } }, "Sample");
  const tabSelection = el("button", { type: "button", class: "subtab", dataset: { side: "selection" } }, "Selection");
  for (const button of [tabSample, tabSelection]) {
    button.addEventListener("click", () => update({ sideTab: button.dataset.side }));
  }
  const body = el("div", { class: "side-body" });
  const card = el(
    "aside",
    { class: "card side-card", style: { gridArea: `s${index}` }, dataset: { side: String(index) } },
    el("div", { class: "side-head" }, title, el("div", { class: "subtabs" }, tabSample, tabSelection)),
    body,
  );
  root.append(card);
  return { card, title, body, tabSample, tabSelection, render: whenChanged(sideReading, drawSide) };
}

function renderSide(view, model, mode) {
  ensurePaths(model.id);
  view.render(view, model, mode);
}

/** The selection, when it applies to `model`'s samples, or null. */
function selectionOf(model) {
  const selection = state.selection;
  return selection && (selection.modelId === model.id || sameSamples(selection.modelId, model.id)) ? selection : null;
}

/** What a side panel reads: its model and layout, the tab shown, the sample (its forced
 * path and views as far as they are in), the selection and the paths' state. */
function sideReading(view, model, mode) {
  const detail = detailFor(model.id);
  const forced = detail?.forced;
  const selection = selectionOf(model);
  return [
    model.id,
    mode,
    state.sideTab,
    detail && [
      detail.modelId,
      detail.sampleId,
      forced && [forced.path, forced.pending ? "p" : forced.error ? "e" : "r"],
      entryState(detail.views),
      entryState(detail.neighbors?.[model.id]),
    ],
    selection ? selection.version : 0,
    selection && hiddenGroups(selection),
    entryState(state.paths[model.id]),
  ];
}

function drawSide(view, model, mode) {
  const detail = detailFor(model.id);
  const selection = selectionOf(model);
  const pathsEntry = state.paths[model.id];
  const sideTab = state.sideTab;
  view.title.textContent = mode === "compare" ? model.id : "Details";
  view.title.className = `side-title${mode === "compare" ? ` model-${model.id === state.modelId ? "a" : "b"}` : ""}`;
  view.tabSample.classList.toggle("active", sideTab === "sample");
  view.tabSelection.classList.toggle("active", sideTab === "selection");
  const selected = selection && modelSamples(model.id) ? selectedIndices(model.id, modelSamples(model.id)) : null;
  view.tabSelection.textContent = selection ? `Selection (${selected ? selected.length : selection.ids.size})` : "Selection";
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
  const members = pathMembers(samples);
  return el(
    "div",
    { class: "common-paths" },
    el("h4", {}, "Most common paths ", el("span", { class: "count", text: `${summary.distinctPaths} in all` })),
    el(
      "ul",
      { class: "path-list" },
      summary.paths.map((entry) => {
        const onPath = members[entry.pathId];
        return el(
          "li",
          {},
          miniPath(entry.path, model.stage_blocks),
          el("span", { class: "pl-dist", text: `${formatPercent(entry.count / samples.n, 0)} · ${entry.count}` }),
          el("button", {
            type: "button",
            class: "link",
            text: describeClasses(samples, onPath, model.class_names, 3),
            title: "Show one of these images",
            onclick: () => showSample(model.id, samples.sampleIds[onPath[0]]),
          }),
        );
      }),
    ),
  );
}

function emptyState(title, text) {
  return el("div", { class: "empty" }, el("p", { class: "empty-title", text: title }), el("p", { class: "hint", text }));
}

/** What shows a sample in the side panel (its Sample tab): a state patch. */
export const sampleShown = (modelId, sampleId) => ({ sideTab: "sample", detail: { modelId, sampleId } });

/** Show a sample in the side panel (its Sample tab). */
export function showSample(modelId, sampleId) {
  update(sampleShown(modelId, sampleId));
}

/** Route the shown sample through `path` (its own path: back to the network's choice). */
function forceSample(modelId, sampleId, ownPath, path) {
  // The sample's augmented views are its own path's: they stay whatever path is forced.
  const same = state.detail?.modelId === modelId && state.detail.sampleId === sampleId;
  const views = same ? state.detail.views : undefined;
  if (path === ownPath) {
    // Its neighbours are kept too: each names the path it is for.
    update({ detail: { modelId, sampleId, views, neighbors: same ? state.detail.neighbors : undefined, forced: null } });
    return;
  }
  routeForced({ modelId, sampleId, views }, path, state.detail?.forced?.result ?? null);
}

/**
 * Route the shown sample through the forced path a URL named (readHash gives it no
 * answer yet), once: a path forced by a click is on its way already.
 */
function ensureForcedSample() {
  const detail = state.detail;
  const forced = detail?.forced;
  if (!forced || forced.pending || forced.result || forced.error) return;
  routeForced(detail, forced.path, null);
}

/** Route `detail`'s sample through `path`; `previous`, the last forced answer, stays
 * shown until this one comes. */
function routeForced(detail, path, previous) {
  const forced = { path, pending: true, result: previous };
  update({ detail: { ...detail, forced } });
  const settle = (patch) => {
    // A later click (or another sample) wins over this answer.
    if (state.detail?.forced !== forced) return;
    update({ detail: { ...state.detail, forced: { path, ...patch } } });
  };
  routeSample(detail.modelId, detail.sampleId, path, state.datasetSplit).then(
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
      src: sampleImageUrl(model.id, sampleId, 128, state.datasetSplit),
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
        formatPrediction(names[samples.predictions[i]], confidence),
        { tone: ok ? "ok" : "bad", title: ok ? "correct" : "misclassified" },
      ),
      stat("Executed", `${executed} of ${path.length} blocks`),
      stat("MACs", macs !== null ? `${formatMacs(macs)} · ${formatPercent(macs / model.full_macs, 0)}` : "–", {
        title: "multiply-accumulates for this image; % of the full network",
      }),
    ),
  );
  const members = pathMembers(samples);
  const forced = detail.modelId === model.id ? detail.forced : null;
  // The sections below describe the path shown: the forced one while one is forced.
  const shownPath = forced ? forced.path : path;
  const onPath = samplesOnPath(samples, shownPath).filter((j) => j !== i);
  const near = ensureNeighbors(model.id, detail, shownPath);
  const otherPaths = nearestPaths(samples, shownPath, 4);
  const which = forced ? "the forced path" : "its path";
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
    el(
      "h4",
      {},
      forced ? "On the forced path (distance 0) " : "Same path (distance 0) ",
      el("span", { class: "count", text: plural(onPath.length + (forced ? 0 : 1), "image") }),
    ),
    el(
      "p",
      { class: "hint same-path-note" },
      onPath.length
        ? `${plural(onPath.length, "other image")} take${onPath.length === 1 ? "s" : ""} ${which} exactly: ${describeClasses(samples, forced ? onPath : [i, ...onPath], names, 6)}.`
        : `No other image takes ${which}.`,
    ),
    thumbStrip(model, samples, onPath.slice(0, 10)),
    onPath.length > 10
      ? el("button", {
          type: "button",
          class: "link browse-path",
          text: `Browse all ${plural(onPath.length + (forced ? 0 : 1), "image")} on ${which} →`,
          onclick: () => selectFound(model.id, samples, samplesOnPath(samples, shownPath), `path ${shownPath}`),
        })
      : null,
    el("h4", { text: forced ? "Nearest images to the forced path" : "Nearest images on other paths" }),
    el("p", { class: "hint", text: `Nearest first, by Hamming distance from ${which}: the number of blocks one path runs and the other does not.` }),
    el(
      "div",
      { class: "neighbors", dataset: { path: near.path, state: entryState(near) } },
      neighborTiles(model, samples, near),
    ),
    detailViews(model, detail, path),
    otherPaths.length ? el("h4", { text: forced ? "Paths nearest to the forced path" : "Nearest other paths" }) : null,
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
                text: `${plural(entry.count, "image")}: ${describeClasses(samples, members[entry.pathId], names, 3)}`,
                onclick: () => showSample(model.id, samples.sampleIds[members[entry.pathId][0]]),
              }),
            ),
          ),
        )
      : null,
  );
}

/** The shown sample's augmented views (drawn on the map too), once they are in. */
function detailViews(model, detail, ownPath) {
  if (detail.modelId !== model.id) return null; // another network routed them
  const views = detail.views;
  if (views?.error) return el("p", { class: "note", text: `Its augmented views could not be routed: ${views.error}` });
  if (!views?.data) return el("p", { class: "hint", text: "Routing its augmented views…" });
  return viewsList(views.data, ownPath, model);
}

/**
 * The images nearest to `path` on other paths, as `model` routes them (the server's
 * neighbour rule): fetched once per model, path and split, the shown sample left out.
 */
function ensureNeighbors(modelId, detail, path) {
  const split = state.datasetSplit;
  const known = detail.neighbors?.[modelId];
  if (known && known.path === path && known.split === split) return known;
  const entry = { path, split, pending: true };
  const put = (value) => update({ detail: { ...state.detail, neighbors: { ...state.detail.neighbors, [modelId]: value } } });
  put(entry);
  const settle = (patch) => {
    // Another sample, path or split since: this answer is not theirs.
    if (state.detail?.neighbors?.[modelId] !== entry) return;
    put({ path, split, ...patch });
  };
  getNeighbors(modelId, path, split, { otherPaths: true, leaveOut: detail.sampleId }).then(
    (result) => settle({ data: result.neighbors }),
    (error) => settle({ error: error.message || String(error) }),
  );
  return entry;
}

function neighborTiles(model, samples, near) {
  if (near.error) return el("p", { class: "error-box", text: `Could not find the nearest images: ${near.error}` });
  if (!near.data) return el("p", { class: "hint", text: "Finding the nearest images…" });
  return near.data
    .filter((n) => samples.indexOf.has(n.sample_id))
    .map((n) => neighborTile(model, samples, samples.indexOf.get(n.sample_id), `d ${n.distance}`));
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
  if (!indices.length) return null; // the section's note says no other image is there
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

/** The groups the selection's map hides through its legend, in order, or null. */
function hiddenGroups(selection) {
  const hidden = hiddenOf(selection.modelId, selection.method);
  return hidden && [...hidden.groups].sort((a, b) => a - b);
}

function selectionSummary(model, samples, selection) {
  const indices = selectedIndices(model.id, samples);
  const left = indicesOfIds(samples, selection.ids).length - indices.length;
  const summary = summarize(samples, indices);
  const names = model.class_names;
  const numClasses = names.length;
  const where =
    selection.modelId === model.id ? "" : ` of ${selection.modelId}`;
  const from = selection.query
    ? `found: ${selection.query}${where}`
    : selection.modelId === model.id
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
      el(
        "p",
        {},
        el("b", { text: plural(summary.count, "sample") }),
        ` ${from}`,
        left ? el("span", { class: "hidden-note", text: ` (${plural(left, "sample")} of groups hidden through the legend left out)` }) : null,
      ),
      exportButtons({ csv: () => selectionCsv(model, samples, indices) }),
      el("button", { type: "button", class: "button small", onclick: () => update({ selection: null }) }, "Clear"),
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
    el("h4", {}, "Images ", el("span", { class: "count", text: String(indices.length) })),
    pagedStrip(model, samples, indices),
  );
}

const PAGE = 40; // thumbnails a page: ten rows of four in the side panel

/** All of `indices` as thumbnails, a page at a time, with Previous and Next. */
function pagedStrip(model, samples, indices) {
  const strip = el("div", { class: "paged-strip" });
  const show = (page) => {
    const pages = Math.max(1, Math.ceil(indices.length / PAGE));
    const first = page * PAGE;
    const last = Math.min(indices.length, first + PAGE);
    const step = (to, label, text) =>
      el("button", { type: "button", class: "button small", disabled: to < 0 || to >= pages, "aria-label": label, onclick: () => show(to) }, text);
    fill(
      strip,
      thumbStrip(model, samples, indices.slice(first, last)),
      pages > 1
        ? el(
            "div",
            { class: "pager" },
            step(page - 1, "Previous page", "‹ Previous"),
            el("span", { class: "hint pager-range", text: `${first + 1}–${last} of ${indices.length}` }),
            step(page + 1, "Next page", "Next ›"),
          )
        : null,
    );
  };
  show(0);
  return strip;
}

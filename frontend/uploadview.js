// The "Route your image" tab: drop or pick an image, route it through the shown model(s),
// show prediction, probabilities, path, cost, augmented views and its place on the map.

import { routeHeldUpload, routeImage } from "./api.js";
import { $, el, fill, stat, thumbnail } from "./dom.js";
import { COLOR_MODE_NAMES, METHOD_NAMES, formatMacs, formatPercent, plural } from "./format.js";
import { ensureEmbedding } from "./loader.js";
import { exportButtons } from "./export.js";
import { flipBlock, interventionSummary } from "./intervention.js";
import { pathDiagram } from "./pathdiagram.js";
import { STATIC_CONFIG, probabilityFigure, scatterFigure, webglConfig } from "./plots.js";
import { WEBGL, legendTitle, slotMarkers, slotSamples } from "./mapdata.js";
import { whenChanged } from "./rerender.js";
import { embeddingKey, shownModels, state, update } from "./state.js";
import { viewPoints, viewsList } from "./viewsmap.js";

let version = 0;
const rerouted = new Set();

export function initUpload() {
  const zone = $("#dropzone");
  // A file the browser cannot show (the server will say why) gets no broken preview.
  $("#drop-preview-img").addEventListener("error", () => ($("#drop-preview").hidden = true));
  $("#drop-preview-img").addEventListener("load", () => ($("#drop-preview").hidden = false));
  const input = $("#file-input");
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) startUpload(input.files[0]);
    input.value = "";
  });
  zone.addEventListener("keydown", (event) => {
    if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      input.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer?.files?.[0];
    if (file) startUpload(file);
  });
  // Dropping a file elsewhere on the page must not navigate away from it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

function viewsWanted() {
  const value = Number.parseInt($("#views-input").value, 10);
  const views = Number.isFinite(value) ? Math.min(32, Math.max(0, value)) : 0;
  $("#views-input").value = String(views);
  return views;
}

export function startUpload(file) {
  if (state.upload?.url) URL.revokeObjectURL(state.upload.url);
  version += 1;
  update({
    upload: { file, name: file.name, url: URL.createObjectURL(file), views: viewsWanted(), results: {}, version },
    tab: "upload",
  });
  syncUpload();
}

function setResult(modelId, entry, forVersion) {
  if (!state.upload || state.upload.version !== forVersion) return;
  update({ upload: { ...state.upload, results: { ...state.upload.results, [modelId]: entry } } });
}

/**
 * Route the upload through a model: through `forced` (a path string) or, with null, the
 * network's own path (then with the augmented views asked for).
 */
function route(modelId, forced = state.upload.results[modelId]?.forced ?? null) {
  const upload = state.upload;
  const previous = upload.results[modelId];
  const request = { pending: true, result: previous?.result || null, forced };
  setResult(modelId, request, upload.version);
  // A later click wins over this answer.
  const settle = (entry) => {
    if (state.upload?.results?.[modelId] === request) setResult(modelId, { ...entry, forced }, upload.version);
  };
  askServer(modelId, upload, previous?.result?.upload_id, forced).then(
    (result) => settle({ result }),
    (error) => settle({ error: error.message || String(error) }),
  );
}

/** The upload routed by the server: by the id it holds it under, once it has answered
 * for this model (nothing is sent or decoded again), else sent again. */
function askServer(modelId, upload, heldId, forced) {
  const views = forced ? 0 : upload.views;
  const send = () => routeImage(modelId, upload.file, views, forced, state.datasetSplit);
  if (!heldId) return send();
  return routeHeldUpload(modelId, heldId, views, forced, state.datasetSplit).catch((error) =>
    error.status === 404 ? send() : Promise.reject(error),
  );
}

/** Route the upload through `path`, or back through its own when `path` is its own. */
function forceUpload(modelId, ownPath, path) {
  route(modelId, path === ownPath ? null : path);
}

/**
 * Route the upload through every shown model that has no result yet, and again once the
 * current map of a model is computed if the result had no place on it.
 */
export function syncUpload() {
  const upload = state.upload;
  if (!upload) return;
  for (const model of shownModels()) {
    const entry = upload.results[model.id];
    if (!entry) {
      route(model.id);
      continue;
    }
    const result = entry.result;
    const mapReady = state.embeddings[embeddingKey(model.id, state.method)]?.data;
    const tag = `${upload.version}|${model.id}|${state.method}`;
    if (result && !entry.pending && mapReady && !result.embedding[state.method] && !rerouted.has(tag)) {
      rerouted.add(tag);
      route(model.id);
    }
  }
}

export function renderUpload(root) {
  const upload = state.upload;
  if (!upload) $("#drop-preview").hidden = true;
  if (upload && $("#drop-preview-img").getAttribute("src") !== upload.url) {
    $("#drop-preview-img").setAttribute("src", upload.url);
  }
  $("#upload-file-name").textContent = upload ? `${upload.name} · ${plural(upload.views, "augmented view")}` : "";
  resultsView(root);
}

// Drawn again when the upload, a shown model's result (its state, forced path and the
// maps it has a place on) or its map's readiness, the method or the colours change.
const resultsView = whenChanged(
  () => [
    state.upload?.version ?? 0,
    shownModels().map((m) => {
      const entry = state.upload?.results?.[m.id];
      const ready = Boolean(state.embeddings[embeddingKey(m.id, state.method)]?.data);
      return [m.id, entry ? (entry.pending ? "p" : entry.error ? "e" : "r") : "-", entry?.forced ?? "", entry?.result?.embedding ? Object.keys(entry.result.embedding) : [], ready];
    }),
    state.method,
    state.color,
  ],
  drawResults,
);

function drawResults(root) {
  const upload = state.upload;
  const models = shownModels();
  for (const plot of root.querySelectorAll(".js-plotly-plot")) window.Plotly.purge(plot);
  const compare = models.length === 2;
  root.className = `upload-grid ${compare ? "layout-compare" : "layout-single"}`;
  if (!upload) {
    fill(root);
    return;
  }
  const pending = [];
  fill(
    root,
    models.map((model, i) => resultCard(model, upload.results[model.id], i, compare, pending)),
  );
  for (const { div, figure, config } of pending) {
    window.Plotly.newPlot(div, figure.data, figure.layout, config).then(() => {
      div.dataset.state = "ready";
    });
  }
}

function resultCard(model, entry, index, compare, pending) {
  const card = el("section", { class: "card result-card", dataset: { model: model.id, index: String(index) } });
  // The heading says what happened: a refused image was not routed through the model.
  const refused = Boolean(entry?.error) && !entry.forced;
  const heading = compare ? model.id : refused ? `Not routed through ${model.id}` : `Routed through ${model.id}`;
  card.append(el("div", { class: "card-head" }, el("h3", { text: heading })));
  if (!entry || (entry.pending && !entry.result)) {
    card.append(el("div", { class: "loading-box" }, el("span", { class: "spinner" }), "Routing the image…"));
    return card;
  }
  if (entry.error && entry.forced) {
    card.dataset.state = "error";
    card.append(interventionSummary(model, { path: entry.forced, error: entry.error }, () => route(model.id, null)));
    return card;
  }
  if (entry.error) {
    card.dataset.state = "error";
    card.append(el("div", { class: "error-box upload-error", role: "alert" }, el("b", { text: "The image was not routed. " }), entry.error));
    return card;
  }
  const result = entry.result;
  card.dataset.state = "ready";
  const names = model.class_names;
  const top = result.probabilities[result.prediction];
  const ownPath = result.forced ? result.unforced.path : result.path;
  const shownPath = entry.forced ?? ownPath;
  if (entry.forced) {
    const forced = { path: shownPath, result: entry.pending ? null : result, pending: entry.pending };
    card.append(interventionSummary(model, forced, () => forceUpload(model.id, ownPath, ownPath)));
  }
  if (result.warnings?.length) {
    card.append(
      el(
        "div",
        { class: "warn-box upload-warning", role: "status" },
        el("b", { text: "Far from the training images. " }),
        result.warnings.join(" "),
      ),
    );
  }
  const inputSide = model.image_size;
  card.append(
    el(
      "div",
      { class: "result-top" },
      el(
        "figure",
        { class: "network-input" },
        el("img", {
          src: result.input_image,
          width: 96,
          height: 96,
          alt: `What the network received: ${inputSide}x${inputSide} pixels`,
        }),
        el("figcaption", { text: `What the network saw (${inputSide}x${inputSide})` }),
      ),
      el(
        "div",
        { class: "prediction" },
        el("span", { class: "prediction-label", text: "Prediction" }),
        el("span", { class: "prediction-value", dataset: { prediction: String(result.prediction) }, text: result.class_name }),
        el("span", { class: "prediction-prob", text: `${formatPercent(top)} probability` }),
      ),
      el(
        "div",
        { class: "stats" },
        stat("Executed", `${result.executed_blocks} of ${result.path.length} blocks`),
        stat("MACs", `${formatMacs(result.macs)} of ${formatMacs(result.full_macs)}`),
        stat("Cost", `${formatPercent(result.macs / result.full_macs, 0)} of full`, { title: "MACs of this path / MACs with every block run" }),
      ),
    ),
  );
  const probDiv = el("div", { class: "chart prob-chart", id: `prob-chart-${index}` });
  card.querySelector(".card-head").append(
    exportButtons({
      chart: () => probDiv,
      title: `Class probabilities of ${state.upload.name} · ${model.id}${entry.forced ? " (forced path)" : ""}`,
      csv: () => uploadCsv(model, result, state.upload.name),
    }),
  );
  pending.push({ div: probDiv, figure: probabilityFigure(result, names), config: STATIC_CONFIG });
  const main = el(
    "div",
    { class: "result-main" },
    el("h4", { text: "Class probabilities" }),
    probDiv,
    el("h4", { text: entry.forced ? "Forced path through the network" : "Path through the network" }),
    el("p", { class: "hint", text: "Click a block to force it on or off: the image is routed again through that path." }),
    pathDiagram(shownPath, model.stage_blocks, {
      compareTo: entry.forced ? ownPath : null,
      differsLabel: "flipped from its own path",
      onToggle: (index) => forceUpload(model.id, ownPath, flipBlock(shownPath, index)),
    }),
    result.views ? viewsList(result.views, result.path, model) : null,
  );
  const side = el("div", { class: "result-side" }, placementSection(model, result, index, pending));
  if (result.neighbors?.length) {
    side.append(
      el("h4", { text: "Nearest test images in routing space" }),
      el(
        "div",
        { class: "neighbors" },
        result.neighbors.map((n) =>
          el(
            "div",
            { class: "tile", title: `Sample #${n.sample_id}: class ${n.class_name}, predicted ${names[n.prediction] ?? n.prediction}` },
            thumbnail(model.id, n.sample_id, { size: 64, display: 52 }),
            el("span", { class: "tile-caption", text: `d ${n.distance} · ${n.class_name}` }),
          ),
        ),
      ),
    );
  }
  card.append(el("div", { class: "result-body" }, main, side));
  if (result.dataset_error) {
    card.append(el("p", { class: "note", text: `No neighbours or map position: ${result.dataset_error}` }));
  }
  return card;
}

/** An upload's result, one row per class with its probability. */
function uploadCsv(model, result, name) {
  const own = result.forced ? result.unforced : result;
  return {
    name: `${name}-${model.id}${result.forced ? "-forced" : ""}`,
    columns: [
      "file",
      "model",
      "forced",
      "path",
      "executed_blocks",
      "macs",
      "prediction",
      "own_path",
      "own_prediction",
      "class",
      "probability",
      "own_probability",
    ],
    rows: model.class_names.map((className, i) => [
      name,
      model.id,
      result.forced ? 1 : 0,
      result.path,
      result.executed_blocks,
      result.macs,
      result.class_name,
      own.path,
      own.class_name,
      className,
      result.probabilities[i],
      own.probabilities[i],
    ]),
  };
}

function placementSection(model, result, index, pending) {
  const method = state.method;
  const name = METHOD_NAMES[method];
  const placed = result.embedding?.[method];
  const section = el("div", { class: "placement" }, el("h4", { text: `Place on the ${name} map` }));
  const entry = ensureEmbedding(model.id, method);
  const samples = slotSamples(model.id, method);
  if (!placed) {
    const why = entry.error
      ? `The ${name} map could not be computed: ${entry.error}`
      : samples
        ? `No ${name} placement yet: the map was computed after the image was routed. Routing it again…`
        : `No ${name} placement yet: the ${name} map is still being computed; the image will be placed when it is ready.`;
    section.append(el("p", { class: "note placement-note", dataset: { placed: "0" }, text: why }));
    return section;
  }
  section.append(
    el(
      "p",
      { class: "hint placement-note", dataset: { placed: "1" } },
      `Shown as a star (${placed.placement}); it is on the Routing space tab's map too. Colours: ${COLOR_MODE_NAMES[state.color].toLowerCase()}.`,
    ),
  );
  if (samples) {
    const grouped = slotMarkers(model.id, method, samples, state.color);
    const figure = scatterFigure(grouped, {
      method,
      legendTitle: legendTitle(model),
      uirevision: `upload-${model.id}-${method}`,
      upload: { x: placed.x, y: placed.y, name: "Your image" },
      views: result.forced ? null : viewPoints(result.views, method, placed),
      webgl: WEBGL,
    });
    figure.layout.hovermode = false;
    figure.layout.dragmode = false;
    const div = el("div", { class: "mini-scatter", id: `upload-scatter-${index}`, dataset: { upload: "1" } });
    pending.push({ div, figure, config: webglConfig({ ...STATIC_CONFIG, staticPlot: false }, window.devicePixelRatio) });
    section.append(
      el(
        "div",
        { class: "cell-tools" },
        exportButtons({ chart: () => div, title: `${state.upload.name} on the ${name} map · ${model.id}` }),
      ),
      div,
    );
  }
  return section;
}

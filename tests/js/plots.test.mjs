// Plotly figure builders (frontend/plots.js): what each figure draws, without Plotly.

import assert from "node:assert/strict";
import { test } from "node:test";

import { groupMarkers, joinSamples } from "../../frontend/data.js";
import {
  blockLabels,
  drawnValue,
  mapConfig,
  mapLayers,
  plotText,
  scatterFigure,
  trainingFigure,
  webglConfig,
} from "../../frontend/plots.js";

/** A map of `n` samples on `paths` distinct paths, in `classes` classes. */
function grouped(n, paths, classes) {
  const pathIds = Array.from({ length: n }, (_, i) => (i * 7) % paths);
  const embedding = {
    sample_ids: Array.from({ length: n }, (_, i) => i),
    labels: Array.from({ length: n }, (_, i) => i % classes),
    predictions: Array.from({ length: n }, (_, i) => i % classes),
    paths: Array.from({ length: paths }, (_, p) => p.toString(2).padStart(8, "0")),
    path_ids: pathIds,
    path_counts: [],
    x: pathIds.map((p) => Math.cos(p)),
    y: pathIds.map((p) => Math.sin(p)),
  };
  const classNames = Array.from({ length: classes }, (_, c) => `class <${c}>`);
  return groupMarkers(joinSamples(embedding, null), "label", { classNames, numGates: 8 });
}

test("server strings are shown literally in Plotly's text", () => {
  assert.equal(plotText("<b>a & b</b>"), "&lt;b&gt;a &amp; b&lt;/b&gt;");
  assert.equal(plotText(3), "3");
});

test("the map's layers hold every marker once, within the trace budget", () => {
  for (const [n, paths, classes] of [[50, 9, 3], [3000, 200, 10], [5000, 250, 100]]) {
    const map = grouped(n, paths, classes);
    const layers = mapLayers(map);
    assert.ok(layers.length <= Math.max(80, classes), `${layers.length} traces`);
    const drawn = layers.flatMap((l) => l.markers.map((m) => `${l.group}:${m}`));
    assert.equal(drawn.length, map.markerCount);
    assert.equal(new Set(drawn).size, map.markerCount);
    // Layer by layer: a layer's traces come after every trace of the layers before.
    for (let i = 1; i < layers.length; i += 1) assert.ok(layers[i].layer >= layers[i - 1].layer);
  }
});

test("the scatter: one legend entry per group, the selection, the ring and the star", () => {
  const map = grouped(400, 30, 4);
  const selected = new Set([0, 1, 2]);
  const figure = scatterFigure(map, {
    method: "umap",
    legendTitle: "True class",
    uirevision: "m|test|umap",
    selected,
    ring: { x: 1, y: 0, size: 10 },
    upload: { x: 0.5, y: 0.5, name: "Your image" },
    webgl: false,
  });
  const samples = figure.data.slice(0, figure.traces.length);
  assert.ok(samples.every((t) => t.type === "scatter"));
  assert.equal(samples.filter((t) => t.showlegend).length, 4);
  const first = samples.find((t) => t.legendgroup === "0" && t.showlegend);
  assert.equal(first.name, "class &lt;0&gt; (100)");
  const markers = samples.reduce((total, t) => total + t.x.length, 0);
  assert.equal(markers, map.markerCount);
  const highlighted = samples.flatMap((t, i) => t.selectedpoints.map((p) => figure.traces[i].markers[p]));
  assert.ok(highlighted.length >= 1 && highlighted.length <= selected.size);
  const [ring, star] = figure.data.slice(figure.traces.length);
  assert.equal(ring.name, "Clicked sample");
  assert.equal(ring.marker.size, 20);
  assert.equal(star.marker.symbol, "star");
  assert.equal(figure.layout.xaxis.title.text, "UMAP 1");
  assert.equal(figure.layout.uirevision, "m|test|umap");
  assert.equal(scatterFigure(map, { method: "pca", webgl: true }).data[0].type, "scattergl");
});

test("a density layer adds one contour per group, in its legend group", () => {
  const map = grouped(200, 20, 3);
  const figure = scatterFigure(map, { method: "pca", density: true, webgl: false });
  const contours = figure.data.filter((t) => t.type === "contour");
  assert.deepEqual(contours.map((t) => t.legendgroup), map.groups.map((g) => String(g.id)));
});

test("WebGL maps are drawn at the screen's pixel ratio, within 1 to 4", () => {
  assert.equal(webglConfig({}, 0.5).plotGlPixelRatio, 1);
  assert.equal(webglConfig({}, 2).plotGlPixelRatio, 2);
  assert.equal(webglConfig({}, 9).plotGlPixelRatio, 4);
  assert.equal(mapConfig(true, 2).scrollZoom, false); // wheelzoom.js zooms a WebGL map
  assert.equal(mapConfig(false, 2).scrollZoom, true);
});

test("blocks are labelled by stage when the stages add up", () => {
  assert.deepEqual(blockLabels([2, 1], 3), ["S1·B1", "S1·B2", "S2·B1"]);
  assert.deepEqual(blockLabels([2, 2], 3), ["B1", "B2", "B3"]);
  assert.deepEqual(blockLabels(null, 2), ["B1", "B2"]);
});

test("training curves: a term at 0 has no place on a log axis, two runs are named", () => {
  const log = (checkpoint) => ({
    checkpoint_epoch: checkpoint,
    epochs: [
      { epoch: 1, loss: 2, cost_loss: 0 },
      { epoch: 2, loss: 1, cost_loss: 0 },
    ],
  });
  const panel = {
    log: true,
    yTitle: "Loss",
    hoverFormat: ".3f",
    series: [
      { key: "loss", name: "total" },
      { key: "cost_loss", name: "cost" },
    ],
  };
  assert.equal(drawnValue(0, panel), false);
  assert.equal(drawnValue(0, { log: false }), true);
  assert.equal(drawnValue("1", panel), false);
  const one = trainingFigure([{ name: "a", log: log(2), dash: "solid" }], panel);
  assert.deepEqual(one.data.map((t) => t.meta.series), ["loss"]);
  assert.equal(one.layout.yaxis.type, "log");
  assert.equal(one.layout.shapes[0].x0, 2);
  const two = trainingFigure(
    [
      { name: "a", log: log(2), dash: "solid" },
      { name: "b", log: log(1), dash: "dash" },
    ],
    panel,
  );
  const runs = two.data.filter((t) => t.meta.series === null).map((t) => t.name);
  assert.deepEqual(runs, ["a (solid)", "b (dashed)"]);
  assert.equal(two.data.filter((t) => t.legendgroup === "loss" && t.showlegend).length, 1);
});

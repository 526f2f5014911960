// Pure functions building Plotly {data, layout} from API data. No DOM, no Plotly calls.

import { densityGrid, markerOutline, markerSize } from "./data.js";
import { CORRECT_COLOR, METHOD_NAMES, classColor } from "./format.js";

export const FONT_FAMILY =
  'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';
const TEXT = "#1f2937";
const MUTED = "#6b7280";
const GRID = "#eef0f4";
// Light (low) to dark blue (high).
const SEQUENTIAL = [
  [0, "#f7fbff"],
  [0.25, "#c6dbef"],
  [0.5, "#6baed6"],
  [0.75, "#2171b5"],
  [1, "#08306b"],
];

export const PLOT_CONFIG = { responsive: true, displayModeBar: false, doubleClick: "reset" };

/** The routing map's: the mouse wheel zooms too. */
export const MAP_CONFIG = { ...PLOT_CONFIG, scrollZoom: true };

/**
 * The routing map's config for its renderer. A WebGL map is zoomed by wheelzoom.js, so
 * Plotly's own wheel zoom is off there; the SVG renderer keeps Plotly's.
 */
export function mapConfig(webgl, pixelRatio) {
  return webgl ? { ...webglConfig(MAP_CONFIG, pixelRatio), scrollZoom: false } : MAP_CONFIG;
}

/**
 * `config` for a WebGL chart drawn at the screen's pixel ratio. Plotly draws WebGL at
 * twice the CSS size by default: on a screen of ratio 1 that is four times the pixels
 * the screen shows, and a 60,000-sample map zoomed at half the frame rate.
 */
export function webglConfig(config, pixelRatio) {
  return { ...config, plotGlPixelRatio: Math.min(4, Math.max(1, pixelRatio || 1)) };
}

// Draw order of a map's markers. Plotly draws trace after trace, so with one trace per
// class the last class would cover every other in a dense map. Instead each class is cut
// into layers, drawn layer by layer across the classes: the largest markers (common
// paths) first, under the rest; the others in a seeded random order, so every class has
// markers on top everywhere. Layers are traces: at most MAP_TRACE_BUDGET of them.
const MAP_LAYERS = 8;
const MAP_TRACE_BUDGET = 80;

/** A marker's place in the random part of the draw order: a hash of path and group. */
function shuffleKey(pathId, groupId) {
  let h = Math.imul(pathId + 1, 0x9e3779b1) ^ Math.imul(groupId + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * The map's traces in draw order: [{group (index), layer, markers (indices into the
 * group's markers)}], the non-empty (group, layer) cells, layer by layer.
 */
export function mapLayers(grouped) {
  const layers = Math.max(1, Math.min(MAP_LAYERS, Math.floor(MAP_TRACE_BUDGET / Math.max(1, grouped.groups.length))));
  const all = [];
  grouped.groups.forEach((group, g) =>
    group.markers.forEach((marker, m) => all.push([g, m, marker.samples.length, shuffleKey(marker.pathId, group.id)])),
  );
  all.sort((a, b) => b[2] - a[2] || a[3] - b[3]);
  const cells = new Map(); // layer * groups + group -> marker indices
  all.forEach(([g, m], rank) => {
    const key = Math.floor((rank * layers) / all.length) * grouped.groups.length + g;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key).push(m);
  });
  return [...cells.keys()]
    .sort((a, b) => a - b)
    .map((key) => ({
      group: key % grouped.groups.length,
      layer: Math.floor(key / grouped.groups.length),
      markers: cells.get(key).sort((a, b) => a - b),
    }));
}

export const STATIC_CONFIG = { responsive: true, displayModeBar: false };

function baseLayout(extra = {}) {
  return {
    font: { family: FONT_FAMILY, size: 12, color: TEXT },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    margin: { l: 48, r: 12, t: 10, b: 40 },
    hoverlabel: {
      bgcolor: "#ffffff",
      bordercolor: "#d1d5db",
      font: { family: FONT_FAMILY, size: 12, color: TEXT },
    },
    ...extra,
  };
}

const axisTitle = (text) => ({ text, font: { size: 12, color: MUTED } });

/**
 * A category axis of class names. Its margin grows to fit the longest name ("airplane"
 * is not clipped to "rplane") and its title stands clear of the tick labels.
 */
const classAxis = (extra = {}) => ({
  title: { ...axisTitle("Class"), standoff: 6 },
  type: "category",
  tickfont: { size: 11 },
  automargin: true,
  ...extra,
});

/** Plotly renders its text as a small HTML subset: show server strings literally. */
export function plotText(value) {
  return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * The routing-space scatter: one trace per colour group (so the legend hides or isolates a
 * group, in layers: see mapLayers), one marker per (distinct path, group) with its area
 * growing with the count; `traces` says which group's markers each sample trace holds.
 * `ring` circles a clicked sample's marker; `upload` stars an uploaded image.
 */
export function scatterFigure(grouped, options) {
  const {
    method,
    legendTitle,
    dragmode = "zoom",
    uirevision,
    selected = null, // Set of sample indices, or null
    ring = null, // {x, y, size}
    upload = null, // {x, y, name}
    views = null, // an image's augmented views: {x0, y0, points, total} (viewsmap.js)
    webgl = true,
    showLegend = true,
    density = false, // contours of each group's samples
  } = options;
  const type = webgl ? "scattergl" : "scatter";
  const traces = mapLayers(grouped);
  const inLegend = new Set();
  const data = traces.map(({ group: g, markers: indices }) => {
    const group = grouped.groups[g];
    const markers = indices.map((m) => group.markers[m]);
    const trace = {
      type,
      mode: "markers",
      name: `${plotText(group.name)} (${group.size})`,
      // One legend entry per group, which hides or isolates all of the group's layers.
      legendgroup: String(group.id),
      showlegend: !inLegend.has(g),
      legendrank: 1000 + g, // the legend in group order, whichever layer holds a group first
      x: markers.map((m) => m.x),
      y: markers.map((m) => m.y),
      marker: {
        color: group.color,
        size: markers.map((m) => markerSize(m.samples.length, grouped)),
        sizemode: "diameter",
        opacity: 0.82,
        line: { color: "#ffffff", width: markerOutline(grouped) },
      },
      hoverinfo: "none",
    };
    inLegend.add(g);
    if (selected) {
      trace.selectedpoints = markers
        .map((m, i) => (m.samples.some((s) => selected.has(s)) ? i : -1))
        .filter((i) => i >= 0);
      trace.selected = { marker: { opacity: 0.95 } };
      trace.unselected = { marker: { opacity: 0.1 } };
    }
    return trace;
  });
  if (density) data.push(...densityTraces(grouped));
  // Under the ring and the star, which mark the image itself.
  if (views) data.push(...viewTraces(views, type, grouped.groups.length));
  if (ring) {
    data.push({
      type,
      mode: "markers",
      name: "Clicked sample",
      x: [ring.x],
      y: [ring.y],
      marker: { symbol: "circle-open", size: ring.size + 10, color: TEXT, line: { width: 2.5, color: TEXT } },
      hoverinfo: "skip",
      showlegend: false,
    });
  }
  if (upload) {
    data.push({
      type,
      mode: "markers",
      name: upload.name || "Your image",
      x: [upload.x],
      y: [upload.y],
      marker: { symbol: "star", size: 24, color: "#fbbf24", line: { color: TEXT, width: 1.5 } },
      hoverinfo: "skip",
      legendrank: 1000 + grouped.groups.length, // after the groups, not among them
    });
  }
  const name = METHOD_NAMES[method] || method;
  const axis = (n) => ({
    title: axisTitle(`${name} ${n}`),
    showticklabels: false,
    ticks: "",
    zeroline: false,
    showgrid: false,
    showline: true,
    linecolor: "#e5e7eb",
    mirror: true,
  });
  const layout = baseLayout({
    uirevision,
    dragmode,
    hovermode: "closest",
    showlegend: showLegend,
    // The legend has a place of its own, outside the plot, whatever its entries: a new
    // entry (the forced path's star) or another colouring must not move the markers.
    margin: { l: 30, r: showLegend ? LEGEND_WIDTH : 8, t: 8, b: 30, autoexpand: false },
    xaxis: axis(1),
    yaxis: axis(2),
    legend: {
      x: 1.01,
      xanchor: "left",
      y: 1,
      title: { text: legendTitle, font: { size: 12, color: MUTED } },
      itemsizing: "constant",
      bgcolor: "rgba(255,255,255,0.85)",
      font: { size: 12 },
      tracegroupgap: 2,
    },
  });
  return { data, layout, traces };
}

// Density contours, as shares of each group's own peak: a low line that still rings a
// group's smaller clusters, and two inside it towards where most of the group lies.
const DENSITY_LEVELS = { start: 0.1, end: 0.7, size: 0.3 };

/**
 * Where each colour group's samples lie: contour lines, in the group's colour, of its
 * density (densityGrid). On a dense map markers cover each other and the last drawn
 * hides the rest; the lines show each group's mass underneath. A group's lines follow
 * it in the legend: hiding a class hides its lines.
 */
function densityTraces(grouped) {
  const grid = densityGrid(grouped);
  return grouped.groups.map((group, g) => ({
    type: "contour",
    name: `${plotText(group.name)} density`,
    legendgroup: String(group.id),
    showlegend: false,
    x: grid.x,
    y: grid.y,
    z: grid.z[g],
    autocontour: false,
    contours: { ...DENSITY_LEVELS, coloring: "lines", showlabels: false },
    line: { width: 1.4, smoothing: 0.8 },
    colorscale: [
      [0, group.color],
      [1, group.color],
    ],
    showscale: false,
    hoverinfo: "skip",
  }));
}

/**
 * An image's augmented views on the map: a dotted line from the image's point to each
 * view path's point, and a diamond there labelled with its distance to the image's path
 * in blocks (and how many views took it). Drawn by the map's renderer: SVG traces would
 * lie under a WebGL map's markers.
 */
function viewTraces(views, type, groupCount) {
  const { x0, y0, points } = views;
  return [
    {
      type,
      mode: "lines",
      name: "View links",
      x: points.flatMap((p) => [x0, p.x, null]),
      y: points.flatMap((p) => [y0, p.y, null]),
      line: { color: "#374151", width: 1.3, dash: "dot" },
      hoverinfo: "skip",
      showlegend: false,
    },
    {
      type,
      mode: "markers+text",
      // Short: the legend is LEGEND_WIDTH wide. The side panel lists every view.
      name: `${views.points.reduce((n, p) => n + p.count, 0)}/${views.total} views moved`,
      x: points.map((p) => p.x),
      y: points.map((p) => p.y),
      text: points.map((p) => `d ${p.distance}${p.count > 1 ? ` ×${p.count}` : ""}`),
      textposition: "top center",
      textfont: { size: 11, color: TEXT },
      marker: { symbol: "diamond", size: 11, color: "#ffffff", line: { color: TEXT, width: 1.5 } },
      hoverinfo: "skip",
      legendrank: 999.5 + groupCount, // after the groups, before the image's star
    },
  ];
}

/** Pixels right of the map for its legend: "automobile (1,234)" and "8/8 views moved" at
 * 12 px fit. */
const LEGEND_WIDTH = 165;

/** Same-class distance and view distance per class (lower is better). */
export function consistencyFigure(metrics, { yMax = null } = {}) {
  const names = metrics.per_class.map((c) => plotText(c.class_name));
  const hover = "class %{x}: %{y:.2f} blocks<extra>%{fullData.name}</extra>";
  const data = [
    {
      type: "bar",
      name: "Two images of the class",
      x: names,
      y: metrics.per_class.map((c) => c.same_class_distance),
      marker: { color: "#4e79a7" },
      hovertemplate: hover,
    },
    {
      type: "bar",
      name: "Two augmented views of one image",
      x: names,
      y: metrics.per_class.map((c) => c.view_distance),
      marker: { color: "#f28e2b" },
      hovertemplate: hover,
    },
  ];
  return {
    data,
    layout: baseLayout({
      barmode: "group",
      bargap: 0.25,
      margin: { l: 52, r: 8, t: 30, b: 44 },
      xaxis: classAxis(),
      yaxis: {
        title: axisTitle("Hamming distance (blocks)"),
        gridcolor: GRID,
        zeroline: false,
        rangemode: "tozero",
        ...(yMax ? { range: [0, yMax] } : {}),
      },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
    }),
  };
}

/** Class x class L1 distance between mean paths (higher off the diagonal is better). */
export function diversityFigure(metrics, { zMax = null } = {}) {
  const names = metrics.class_names.map(plotText);
  const small = names.length <= 12;
  return {
    data: [
      {
        type: "heatmap",
        z: metrics.class_distance,
        x: names,
        y: names,
        zmin: 0,
        ...(zMax ? { zmax: zMax } : {}),
        colorscale: SEQUENTIAL,
        xgap: small ? 1 : 0,
        ygap: small ? 1 : 0,
        ...(small ? { texttemplate: "%{z:.1f}", textfont: { size: 10 } } : {}),
        hovertemplate: "classes %{y} and %{x}: %{z:.2f} blocks apart<extra></extra>",
        colorbar: { title: { text: "blocks", side: "right" }, thickness: 10, outlinewidth: 0 },
      },
    ],
    layout: baseLayout({
      margin: { l: 44, r: 8, t: 10, b: 40 },
      xaxis: classAxis({ side: "bottom" }),
      yaxis: classAxis({ autorange: "reversed" }),
    }),
  };
}

/** Distinct paths per class (fewer is more consistent), with entropy on hover. */
export function uniquePathsFigure(metrics, { yMax = null } = {}) {
  const classes = metrics.per_class;
  const n = classes.length;
  return {
    data: [
      {
        type: "bar",
        x: classes.map((c) => plotText(c.class_name)),
        y: classes.map((c) => c.unique_paths),
        customdata: classes.map((c) => [c.path_entropy, c.count]),
        marker: { color: classes.map((c) => classColor(c.class_index, n)) },
        text: classes.map((c) => String(c.unique_paths)),
        textposition: "outside",
        cliponaxis: false,
        textfont: { size: 11, color: MUTED },
        hovertemplate:
          "class %{x}: %{y} distinct paths<br>entropy %{customdata[0]:.2f} bits · %{customdata[1]} images<extra></extra>",
      },
    ],
    layout: baseLayout({
      margin: { l: 52, r: 8, t: 18, b: 44 },
      showlegend: false,
      xaxis: classAxis(),
      yaxis: {
        title: axisTitle("Distinct paths"),
        gridcolor: GRID,
        zeroline: false,
        rangemode: "tozero",
        ...(yMax ? { range: [0, yMax] } : {}),
      },
    }),
  };
}

/** Block labels "S1·B2", input side first. */
export function blockLabels(stageBlocks, numGates) {
  const total = (stageBlocks || []).reduce((a, b) => a + b, 0);
  if (total !== numGates) return Array.from({ length: numGates }, (_, i) => `B${i + 1}`);
  const labels = [];
  stageBlocks.forEach((size, s) => {
    for (let b = 0; b < size; b += 1) labels.push(`S${s + 1}·B${b + 1}`);
  });
  return labels;
}

/** Class x block execution rate, 0..1, with the stage boundaries drawn. */
/** Vertical lines between the stages of a class x block heatmap. */
function stageLines(stageBlocks) {
  const shapes = [];
  let edge = 0;
  for (const size of (stageBlocks || []).slice(0, -1)) {
    edge += size;
    shapes.push({
      type: "line",
      xref: "x",
      yref: "paper",
      x0: edge - 0.5,
      x1: edge - 0.5,
      y0: 0,
      y1: 1,
      line: { color: "#111827", width: 1.5 },
    });
  }
  return shapes;
}

/** The most blocks whose cells are labelled with their value on a full-width heatmap;
 * half as many on one of two side by side, where the cells are half as wide. */
const LABELLED_BLOCKS = 18;

/** The layout of a class x block heatmap: blocks along x, classes down y. */
function classBlockLayout(model, numGates) {
  const labels = blockLabels(model.stage_blocks, numGates);
  return baseLayout({
    margin: { l: 44, r: 8, t: 10, b: 52 },
    shapes: stageLines(model.stage_blocks),
    xaxis: {
      // automargin: the title goes below the rotated block labels, not across them.
      title: { ...axisTitle("Block (stage · block), input side first"), standoff: 6 },
      automargin: true,
      zeroline: false, // x = 0 is the first block: no line down its (empty) cells
      tickmode: "array",
      tickvals: labels.map((_, i) => i),
      ticktext: labels,
      tickangle: numGates > 12 ? -60 : 0,
      tickfont: { size: numGates > 24 ? 8 : 10 },
    },
    yaxis: classAxis({ autorange: "reversed" }),
  });
}

export function blockRateFigure(metrics, model, { compare = false } = {}) {
  const rates = metrics.block_execution_rate;
  const numGates = rates.length ? rates[0].length : model.num_gates;
  const labels = blockLabels(model.stage_blocks, numGates);
  const small = numGates <= LABELLED_BLOCKS / (compare ? 2 : 1) && metrics.class_names.length <= 12;
  return {
    data: [
      {
        type: "heatmap",
        z: rates,
        x: labels.map((_, i) => i),
        y: metrics.class_names.map(plotText),
        zmin: 0,
        zmax: 1,
        colorscale: SEQUENTIAL,
        xgap: 1,
        ygap: 1,
        customdata: metrics.class_names.map(() => labels),
        ...(small ? { texttemplate: "%{z:.0%}", textfont: { size: 9 } } : {}),
        hovertemplate: "class %{y}, block %{customdata}: %{z:.0%} of images run it<extra></extra>",
        colorbar: { tickformat: ".0%", thickness: 10, outlinewidth: 0 },
      },
    ],
    layout: classBlockLayout(model, numGates),
  };
}

const DIVERGING = [
  [0, "#b2182b"],
  [0.25, "#ef8a62"],
  [0.5, "#f7f7f7"],
  [0.75, "#67a9cf"],
  [1, "#2166ac"],
];

/**
 * Block importance: per class and block, the change in accuracy (forced minus own path,
 * in points) when the block is flipped, for the images it applies to in `direction`
 * ("off": those that run it; "on": those that skip it). Empty where none does.
 */
export function importanceFigure(importance, model, direction, { zMax = null, compare = false } = {}) {
  const table = importance[direction];
  const labels = blockLabels(model.stage_blocks, importance.gates);
  const change = table.forced_accuracy.map((row, c) =>
    row.map((forced, b) => (forced === null ? null : forced - table.own_accuracy[c][b])),
  );
  const customdata = change.map((row, c) =>
    row.map((_, b) => [
      labels[b],
      table.count[c][b],
      table.own_accuracy[c][b],
      table.forced_accuracy[c][b],
      table.own_confidence[c][b],
      table.forced_confidence[c][b],
    ]),
  );
  const largest = zMax ?? Math.max(0.05, ...change.flat().filter((v) => v !== null).map(Math.abs));
  const small = importance.gates <= LABELLED_BLOCKS / (compare ? 2 : 1) && importance.class_names.length <= 12;
  const verb = direction === "off" ? "forced off for the" : "forced on for the";
  return {
    data: [
      {
        type: "heatmap",
        z: change,
        x: labels.map((_, i) => i),
        y: importance.class_names.map(plotText),
        zmin: -largest,
        zmax: largest,
        zmid: 0,
        colorscale: DIVERGING,
        xgap: 1,
        ygap: 1,
        customdata,
        hoverongaps: false,
        ...(small ? { texttemplate: "%{z:+.0%}", textfont: { size: 9 } } : {}),
        hovertemplate:
          `class %{y}, block %{customdata[0]} ${verb} %{customdata[1]} images ` +
          `${direction === "off" ? "running" : "skipping"} it:<br>` +
          "accuracy %{customdata[2]:.0%} → %{customdata[3]:.0%}, " +
          "true-class probability %{customdata[4]:.2f} → %{customdata[5]:.2f}<extra></extra>",
        colorbar: { tickformat: "+.0%", thickness: 10, outlinewidth: 0, title: { text: "Δ acc.", side: "right" } },
      },
    ],
    layout: classBlockLayout(model, importance.gates),
  };
}

/** An upload's class probabilities: every class up to 20, else the 10 most likely. */
export function probabilityFigure(result, classNames) {
  let order = classNames.map((_, i) => i);
  if (order.length > 20) {
    order = order.sort((a, b) => result.probabilities[b] - result.probabilities[a]).slice(0, 10);
  }
  return {
    data: [
      {
        type: "bar",
        x: order.map((i) => plotText(classNames[i])),
        y: order.map((i) => result.probabilities[i]),
        marker: { color: order.map((i) => (i === result.prediction ? CORRECT_COLOR : "#c7d2e0")) },
        hovertemplate: "class %{x}: %{y:.1%}<extra></extra>",
      },
    ],
    layout: baseLayout({
      margin: { l: 44, r: 8, t: 8, b: 36 },
      showlegend: false,
      bargap: 0.2,
      xaxis: classAxis(),
      yaxis: { range: [0, 1], tickformat: ".0%", gridcolor: GRID, zeroline: false, title: axisTitle("Probability") },
    }),
  };
}

/**
 * Small multiples, one per measure: each variant's runs over seeds (dots), their mean and
 * ± one standard deviation (bar), the models on show ringed.
 * `group.variants[v][measure]` is {n, mean, sd, values}; `shown` maps a shown model's
 * variant to its own metrics.
 */
export function seedSpreadFigure(group, measures, labels, shown) {
  const variants = Object.keys(group.variants);
  const data = [];
  const layout = baseLayout({
    grid: { rows: 1, columns: measures.length, pattern: "independent", xgap: 0.12 },
    showlegend: false,
    margin: { l: 40, r: 8, t: 34, b: 44 },
    annotations: [],
  });
  measures.forEach((name, i) => {
    const axis = i ? String(i + 1) : "";
    const stats = variants.map((v) => group.variants[v][name] || { n: 0, values: [] });
    const measure = labels[name] || { label: name, better: "" };
    data.push({
      type: "scatter",
      mode: "markers",
      xaxis: `x${axis}`,
      yaxis: `y${axis}`,
      x: variants.flatMap((v, j) => stats[j].values.map(() => v)),
      y: stats.flatMap((s) => s.values),
      marker: { color: "#9ca3af", size: 6, opacity: 0.8 },
      hovertemplate: `${plotText(measure.label)}: %{y:.3f}<extra>%{x}, one seed</extra>`,
    });
    data.push({
      type: "scatter",
      mode: "markers",
      xaxis: `x${axis}`,
      yaxis: `y${axis}`,
      x: variants,
      y: stats.map((s) => s.mean),
      error_y: { type: "data", array: stats.map((s) => s.sd || 0), visible: true, color: "#1f2937", thickness: 1.5, width: 6 },
      marker: { color: "#1f2937", size: 9, symbol: "line-ew-open", line: { width: 2 } },
      hovertemplate: `${plotText(measure.label)}: %{y:.3f} ± %{error_y.array:.3f}<extra>%{x}, mean ± sd</extra>`,
    });
    const ringed = variants.filter((v) => shown[v]);
    data.push({
      type: "scatter",
      mode: "markers",
      xaxis: `x${axis}`,
      yaxis: `y${axis}`,
      x: ringed,
      y: ringed.map((v) => shown[v][name] ?? null),
      marker: { size: 16, color: "rgba(0,0,0,0)", line: { color: "#e15759", width: 2 } },
      hoverinfo: "skip",
    });
    layout[`xaxis${axis}`] = { type: "category", tickfont: { size: 11 } };
    layout[`yaxis${axis}`] = { gridcolor: GRID, zeroline: false, tickfont: { size: 10 } };
    layout.annotations.push({
      text: `${plotText(measure.label)} ${measure.better === "lower" ? "↓" : "↑"}`,
      xref: `x${axis} domain`,
      yref: `y${axis} domain`,
      x: 0.5,
      y: 1.02,
      xanchor: "center",
      yanchor: "bottom",
      showarrow: false,
      font: { size: 12 },
    });
  });
  return { data, layout };
}

const SERIES_COLORS = ["#2f6fde", "#f28e2b", "#17803d", "#c4321f", "#7c3aed", "#0e7490"];

/** Legend entries naming the compared runs by their line style, in grey: no data. */
function runEntries(runs) {
  return runs.map((run) => ({
    type: "scatter",
    mode: "lines",
    name: `${plotText(run.name)} (${run.dash === "solid" ? "solid" : "dashed"})`,
    legendgroup: `run-${run.name}`,
    meta: { run: run.name, series: null },
    x: [null],
    y: [null],
    line: { color: MUTED, width: 2, dash: run.dash },
    hoverinfo: "skip",
  }));
}

/** Whether a training log's value is drawn: a number, and above 0 on a log axis (a
 * term at exactly 0, switched off, has no place there: the page lists it instead). */
export function drawnValue(value, panel) {
  return typeof value === "number" && (!panel.log || value > 0);
}

/**
 * One panel of training curves: each of `panel.series` ({key, name}) against the epoch,
 * for each run in `runs` ({name, log, dash}); a dotted line marks the epoch each run's
 * served checkpoint was saved at. Series a run did not log are left out. With two runs
 * the legend names each run beside its line style; `panel.log` draws the values on a log
 * axis, where terms orders of magnitude apart do not overlap.
 */
export function trainingFigure(runs, panel) {
  const data = [];
  const shapes = [];
  // Two runs' lines on show (a run without a log draws none): name each in the legend.
  const compare = runs.filter((run) => run.log.epochs.length).length > 1;
  runs.forEach((run, r) => {
    panel.series.forEach((series, s) => {
      const rows = run.log.epochs.filter((row) => drawnValue(row[series.key], panel));
      if (!rows.length) return;
      data.push({
        type: "scatter",
        mode: rows.length > 40 ? "lines" : "lines+markers",
        name: plotText(series.name),
        // One legend entry per series, both runs' lines: the runs differ by line style,
        // and have entries of their own (runEntries).
        legendgroup: series.key,
        showlegend: !data.some((trace) => trace.legendgroup === series.key),
        meta: { run: run.name, series: series.key },
        x: rows.map((row) => row.epoch),
        y: rows.map((row) => row[series.key]),
        line: { color: SERIES_COLORS[s % SERIES_COLORS.length], width: 2, dash: run.dash },
        marker: { size: 4 },
        hovertemplate: `${plotText(run.name)}, epoch %{x}: ${plotText(series.name)} %{y:${panel.hoverFormat}}<extra></extra>`,
      });
    });
    if (run.log.epochs.length) {
      shapes.push({
        type: "line",
        xref: "x",
        yref: "paper",
        x0: run.log.checkpoint_epoch,
        x1: run.log.checkpoint_epoch,
        y0: 0,
        y1: 1,
        line: { color: MUTED, width: 1, dash: r ? "dash" : "dot" },
      });
    }
  });
  if (compare) data.push(...runEntries(runs.filter((run) => run.log.epochs.length)));
  return {
    data,
    layout: baseLayout({
      margin: { l: 52, r: 12, t: 10, b: 40 },
      shapes,
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
      xaxis: { title: axisTitle("Epoch"), gridcolor: GRID, zeroline: false, dtick: null },
      yaxis: {
        ...(panel.log ? { type: "log", exponentformat: "power" } : {}),
        title: axisTitle(panel.log ? `${panel.yTitle} (log scale)` : panel.yTitle),
        gridcolor: GRID,
        zeroline: false,
        tickformat: panel.tickFormat,
        automargin: true,
        ...(panel.range ? { range: panel.range } : {}),
      },
    }),
  };
}

// Number, name and colour formatting shared by the views.

export const METHOD_NAMES = { umap: "UMAP", tsne: "t-SNE", pca: "PCA" };

export const COLOR_MODE_NAMES = {
  label: "True class",
  prediction: "Predicted class",
  correct: "Correctness",
  cost: "Executed blocks",
};

/** "codinet_resnet110" -> "ResNet-110"; a model whose arch names no depth gives it in
 * its arguments ({arch: "skipnet_cifar_rnn", model_args: {depth: 38}} -> "ResNet-38"). */
export function archName(arch, args = {}) {
  const match = /resnet(\d+)/i.exec(arch || "");
  if (match) return `ResNet-${match[1]}`;
  return Number.isInteger(args.depth) ? `ResNet-${args.depth}` : arch || "?";
}

const FAMILY_NAMES = {
  codinet: "CoDiNet",
  skipnet: "SkipNet",
  blockdrop: "BlockDrop",
  "convnet-aig": "ConvNet-AIG",
  "codinet-public": "CoDiNet (public code)",
};

/** The network a model is: its family and depth, e.g. "SkipNet ResNet-38". */
export function networkName(model) {
  const family = (model.origin && model.origin.title) || FAMILY_NAMES[model.family] || model.family || "";
  return `${family} ${archName(model.arch, model.model_args || {})}`.trim();
}

/** The model table's network cell, e.g. "SkipNet ResNet-38 · 17 gates"; "· masked" ends
 * it for a network that cannot skip a block per image (the API's conditional: false). */
export function networkSummary(model) {
  return `${networkName(model)} · ${model.num_gates} gates${model.conditional === false ? " · masked" : ""}`;
}

/** Where a model comes from, for a tooltip: trained here, or imported from which file;
 * and, for a masked network, what masked means. */
export function originText(model) {
  const o = model.origin;
  const from = o
    ? `imported from ${o.source_file} (sha256 ${o.sha256}), written by ${o.repository}; ${model.arch}`
    : `trained here (${model.arch})`;
  if (model.conditional !== false) return from;
  return `${from}. Masked: it cannot skip a block per image, so every block is computed and the path selects the outputs; answers and MACs per path are as if it skipped`;
}

export function datasetName(dataset) {
  const names = { cifar10: "CIFAR-10", cifar100: "CIFAR-100", svhn: "SVHN", digits: "digits" };
  return names[dataset] || dataset || "?";
}

/** 5857900 -> "5.86 M". */
export function formatMacs(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const units = [
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [scale, unit] of units) {
    if (Math.abs(value) >= scale) return `${(value / scale).toPrecision(3)} ${unit}`;
  }
  return String(Math.round(value));
}

export function formatPercent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return "–";
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** A predicted class with its probability, written one way everywhere: "6 · 99.9%". */
export function formatPrediction(className, probability) {
  return probability === null || probability === undefined ? className : `${className} · ${formatPercent(probability)}`;
}

export function formatNumber(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits);
}

export function plural(count, one, many = `${one}s`) {
  return `${count.toLocaleString("en")} ${count === 1 ? one : many}`;
}

// Tableau 10 and 20: distinct, print-friendly class colours.
const TABLEAU10 = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];
const TABLEAU20 = [
  "#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63",
  "#499894", "#86bcb6", "#e15759", "#ff9d9a", "#79706e", "#bab0ac", "#d37295", "#fabfd2",
  "#b07aa1", "#d4a6c8", "#9d7660", "#d7b5a6",
];

/** The colour of class `index` among `count` classes. */
export function classColor(index, count) {
  if (count <= 10) return TABLEAU10[index % 10];
  if (count <= 20) return TABLEAU20[index % 20];
  const hue = (index * 137.508) % 360; // golden angle: neighbours differ
  const lightness = 38 + (index % 3) * 10;
  return `hsl(${hue.toFixed(1)}, 62%, ${lightness}%)`;
}

export const CORRECT_COLOR = "#4e79a7";
export const WRONG_COLOR = "#e15759";

// Viridis stops, dark (many blocks, expensive) to light (few blocks, cheap).
const VIRIDIS = [
  [68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [110, 206, 88], [181, 222, 43],
];

/** Colour of a cost: `fraction` = executed / total blocks; 1 is dark, 0 light. */
export function costColor(fraction) {
  const t = Math.min(1, Math.max(0, 1 - fraction)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
  const f = t - i;
  const mix = VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
  return `rgb(${mix[0]}, ${mix[1]}, ${mix[2]})`;
}

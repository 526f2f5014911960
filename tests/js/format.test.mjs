// Number, name and colour formatting (frontend/format.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  archName,
  classColor,
  costColor,
  datasetName,
  formatMacs,
  formatNumber,
  formatPercent,
  formatPrediction,
  networkName,
  networkSummary,
  originText,
  plural,
} from "../../frontend/format.js";

test("MACs are written with three significant digits and a unit", () => {
  assert.equal(formatMacs(5857900), "5.86 M");
  assert.equal(formatMacs(2.5e9), "2.50 G");
  assert.equal(formatMacs(1234), "1.23 k");
  assert.equal(formatMacs(999.6), "1000");
  assert.equal(formatMacs(null), "–");
  assert.equal(formatMacs(Number.NaN), "–");
});

test("percentages, numbers and predictions; a missing value is a dash", () => {
  assert.equal(formatPercent(0.12345), "12.3%");
  assert.equal(formatPercent(1, 0), "100%");
  assert.equal(formatPercent(undefined), "–");
  assert.equal(formatNumber(2.345, 1), "2.3");
  assert.equal(formatNumber(null), "–");
  assert.equal(formatPrediction("6", 0.9991), "6 · 99.9%");
  assert.equal(formatPrediction("cat", null), "cat");
});

test("plurals count with thousands separators", () => {
  assert.equal(plural(1, "sample"), "1 sample");
  assert.equal(plural(0, "sample"), "0 samples");
  assert.equal(plural(12000, "path", "paths!"), "12,000 paths!");
});

test("networks are named by family and depth", () => {
  assert.equal(archName("codinet_resnet110"), "ResNet-110");
  assert.equal(archName("skipnet_cifar_rnn", { depth: 38 }), "ResNet-38");
  assert.equal(archName("mystery"), "mystery");
  assert.equal(archName(undefined), "?");
  assert.equal(networkName({ family: "codinet", arch: "codinet_resnet20" }), "CoDiNet ResNet-20");
  assert.equal(
    networkName({ family: "skipnet", arch: "x", model_args: { depth: 38 }, origin: { title: "SkipNet (paper)" } }),
    "SkipNet (paper) ResNet-38",
  );
  assert.equal(originText({ arch: "codinet_resnet20" }), "trained here (codinet_resnet20)");
  assert.match(originText({ arch: "a", origin: { source_file: "f.pth", sha256: "ab", repository: "r" } }), /imported from f\.pth/);
  const skipnet = { family: "skipnet", arch: "skipnet_cifar_rnn", model_args: { depth: 38 }, num_gates: 17, conditional: true };
  assert.equal(networkSummary(skipnet), "SkipNet ResNet-38 · 17 gates");
  assert.doesNotMatch(originText(skipnet), /masked/i);
  const masked = { family: "mine", arch: "whole_batch_mlp", num_gates: 5, conditional: false };
  assert.equal(networkSummary(masked), "mine whole_batch_mlp · 5 gates · masked");
  assert.match(originText(masked), /^trained here \(whole_batch_mlp\)\. Masked: it cannot skip a block per image/);
  assert.equal(datasetName("cifar10"), "CIFAR-10");
  assert.equal(datasetName("mine"), "mine");
});

test("class colours are distinct within a palette, and beyond one", () => {
  const ten = Array.from({ length: 10 }, (_, i) => classColor(i, 10));
  assert.equal(new Set(ten).size, 10);
  const twenty = Array.from({ length: 20 }, (_, i) => classColor(i, 20));
  assert.equal(new Set(twenty).size, 20);
  const hundred = Array.from({ length: 100 }, (_, i) => classColor(i, 100));
  assert.equal(new Set(hundred).size, 100);
  assert.match(hundred[42], /^hsl\(/);
});

test("cost colours run from light (cheap) to dark (every block), clamped", () => {
  const brightness = (rgb) => rgb.match(/\d+/g).map(Number).reduce((a, b) => a + b, 0);
  assert.equal(costColor(1), "rgb(68, 1, 84)");
  assert.equal(costColor(0), "rgb(181, 222, 43)");
  assert.equal(costColor(2), costColor(1));
  assert.equal(costColor(-1), costColor(0));
  assert.ok(brightness(costColor(0.25)) > brightness(costColor(0.75)));
});

// The card shown over a map's marker while the mouse is on it.

import { markerCaption } from "./data.js";
import { $, el, fill, thumbnail } from "./dom.js";
import { miniPath } from "./pathdiagram.js";

/** The card over a hovered marker: its class, cost, a few of its images and its path.
 * `view.ctx` holds the map's samples and model. */
export function showHoverCard(view, point, group, marker, mouseEvent) {
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
            el("span", { class: ok ? "tone-ok" : "tone-bad", text: ` ${label}→\u200b${pred}` }), // may wrap after the arrow
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

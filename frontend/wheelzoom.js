// The mouse-wheel zoom of a WebGL map.
//
// Plotly's own wheel zoom redraws every marker at each wheel event, and twice more when
// the wheel stops (the second time after uploading every marker again). A redraw costs
// in proportion to the markers: a tenth of a second for a 60,000-sample map in a
// software renderer, so its zoom stuttered while the small maps' did not. Here the
// canvas already drawn is scaled about the pointer while the wheel turns (the
// compositor's work, the same for any number of markers), and the map is redrawn once,
// at the new ranges, when the wheel has rested. The zoom itself is Plotly's: each wheel
// event scales the ranges about the point under the pointer by exp(deltaY / 200), deltaY
// clamped to +-20, so one event zooms by at most 0.905.

const MAX_STEP = 20; // |deltaY| counted per wheel event, as Plotly counts it
const STEP_SCALE = 200;
const REST_MS = 100; // the wheel has rested: redraw the map at its new ranges

const gestures = new WeakMap(); // plot -> {x, y, scale, tx, ty, timer}

/** Zoom the WebGL map `plot` (a Plotly graph div) with the mouse wheel. */
export function attachWheelZoom(plot) {
  plot.addEventListener("wheel", (event) => onWheel(plot, event), { passive: false });
  // Another change of the ranges (double-click, "Reset view") ends a gesture unfinished.
  plot.on("plotly_relayout", () => {
    const gesture = gestures.get(plot);
    if (gesture && !gesture.settling) endGesture(plot, gesture);
  });
}

/** Whether `plot` is being zoomed (its drawn map scaled, its hover positions stale). */
export function zooming(plot) {
  return gestures.has(plot);
}

function onWheel(plot, event) {
  const layout = plot._fullLayout;
  if (!layout?.xaxis || !layout.yaxis) return;
  const area = layout._size; // the plot area, in pixels from the graph's top left
  const box = plot.getBoundingClientRect();
  const cx = event.clientX - box.left;
  const cy = event.clientY - box.top;
  if (cx < area.l || cx > area.l + area.w || cy < area.t || cy > area.t + area.h) return;
  event.preventDefault(); // over the plot the wheel zooms; elsewhere the page scrolls

  let gesture = gestures.get(plot);
  if (!gesture) {
    gesture = { x: layout.xaxis.range.slice(), y: layout.yaxis.range.slice(), scale: 1, tx: 0, ty: 0 };
    gestures.set(plot, gesture);
    plot.dispatchEvent(new CustomEvent("wheelzoomstart"));
  }
  const factor = Math.exp(Math.max(-MAX_STEP, Math.min(MAX_STEP, event.deltaY)) / STEP_SCALE);
  // The data point under the pointer stays under it.
  const fx = (cx - area.l) / area.w;
  const fy = (area.t + area.h - cy) / area.h;
  gesture.x = zoomRange(gesture.x, fx, factor);
  gesture.y = zoomRange(gesture.y, fy, factor);
  // The drawn map, at the ranges the gesture began with, scaled to show the new ones:
  // page position = scale * drawn position + (tx, ty), about the pointer.
  gesture.scale /= factor;
  gesture.tx = cx + (gesture.tx - cx) / factor;
  gesture.ty = cy + (gesture.ty - cy) / factor;
  scaleCanvases(plot, gesture, area, layout);
  plot.emit?.("plotly_relayouting", {
    "xaxis.range[0]": gesture.x[0],
    "xaxis.range[1]": gesture.x[1],
    "yaxis.range[0]": gesture.y[0],
    "yaxis.range[1]": gesture.y[1],
  });
  clearTimeout(gesture.timer);
  gesture.timer = setTimeout(() => settle(plot, gesture), REST_MS);
}

function zoomRange([lo, hi], fraction, factor) {
  const centre = lo + (hi - lo) * fraction;
  return [centre + (lo - centre) * factor, centre + (hi - centre) * factor];
}

function scaleCanvases(plot, gesture, area, layout) {
  const { scale, tx, ty } = gesture;
  // clip-path applies before the transform: the plot area, mapped back onto the canvas.
  const top = (area.t - ty) / scale;
  const left = (area.l - tx) / scale;
  const right = layout.width - (area.l + area.w - tx) / scale;
  const bottom = layout.height - (area.t + area.h - ty) / scale;
  for (const canvas of glCanvases(plot)) {
    canvas.style.transformOrigin = "0 0";
    canvas.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    canvas.style.clipPath = `inset(${top}px ${right}px ${bottom}px ${left}px)`;
  }
}

function settle(plot, gesture) {
  gesture.settling = true;
  // The relayout draws the map at the new ranges; the scale comes off in the same frame.
  window.Plotly.relayout(plot, { "xaxis.range": gesture.x, "yaxis.range": gesture.y })
    .catch(() => {})
    .finally(() => endGesture(plot, gesture));
}

function endGesture(plot, gesture) {
  clearTimeout(gesture.timer);
  if (gestures.get(plot) !== gesture) return;
  gestures.delete(plot);
  for (const canvas of glCanvases(plot)) {
    canvas.style.transform = "";
    canvas.style.transformOrigin = "";
    canvas.style.clipPath = "";
  }
}

function glCanvases(plot) {
  return plot.querySelectorAll(".gl-container canvas");
}

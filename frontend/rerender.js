// How a view re-renders: it declares what it reads from the state, as a selector that
// returns plain values, and is drawn again when, and only when, that reading changes.
// The page calls its shown views on every state change; a view whose reading is the
// same costs one selector call. A state field a view does not read cannot make it
// redraw, and one it reads cannot leave it stale: the selector is the only list of both.

const UNREAD = Symbol("not drawn yet");

/**
 * Whether two readings are the same: primitives by value (NaN equals NaN), arrays and
 * plain objects member by member; anything else (a Set, a DOM node, a class instance)
 * only if it is the same object, since its contents are not a reading's to compare.
 */
export function sameReading(a, b) {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((value, i) => sameReading(value, b[i]));
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && sameReading(a[key], b[key]))
  );
}

function isPlainObject(value) {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A view: `read(...args)` returns what it reads (of the state, and of `args`, the
 * view's own place: its root, its model); `draw(...args)` draws it. The returned
 * function calls `read` each time and `draw` the first time and whenever the reading
 * differs from the one last drawn; it returns whether it drew. Each call of `whenChanged`
 * remembers its own reading, so a view with several instances (a map per slot) makes
 * one per instance.
 */
export function whenChanged(read, draw) {
  let drawn = UNREAD;
  return (...args) => {
    const reading = read(...args);
    if (drawn !== UNREAD && sameReading(reading, drawn)) return false;
    drawn = reading;
    draw(...args);
    return true;
  };
}

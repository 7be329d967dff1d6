/**
 * Where to look at a graph: fit it to the canvas, but never below a zoom at which node names
 * stay readable. A graph too wide for that is shown from its start (the trigger side, left) and
 * the user pans to the rest. Pure: bounds and canvas size in, a React Flow viewport out.
 */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}

export interface ReadableFitOptions {
  /** Space kept free around the graph, in screen pixels. */
  padding?: number;
  /** Below this the 12–13 px labels of a node are no longer readable. */
  minZoom?: number;
  maxZoom?: number;
}

export const READABLE_ZOOM = 0.75;

export function readableViewport(bounds: Rect, canvas: { width: number; height: number }, opts: ReadableFitOptions = {}): Viewport {
  const padding = opts.padding ?? 40;
  const minZoom = opts.minZoom ?? READABLE_ZOOM;
  const maxZoom = opts.maxZoom ?? 1;
  const availW = Math.max(1, canvas.width - 2 * padding);
  const availH = Math.max(1, canvas.height - 2 * padding);
  const fit = Math.min(availW / Math.max(1, bounds.width), availH / Math.max(1, bounds.height));
  const zoom = Math.min(maxZoom, Math.max(minZoom, fit));
  const w = bounds.width * zoom;
  const h = bounds.height * zoom;
  // Centre along an axis that fits; otherwise start at the graph's left / top edge.
  const x = w <= availW ? (canvas.width - w) / 2 - bounds.x * zoom : padding - bounds.x * zoom;
  const y = h <= availH ? (canvas.height - h) / 2 - bounds.y * zoom : padding - bounds.y * zoom;
  return { x, y, zoom };
}

import { describe, expect, it } from 'vitest';
import { readableViewport } from './viewport';

const canvas = { width: 800, height: 600 };

describe('readableViewport', () => {
  it('centres a graph that fits, without zooming in past 1', () => {
    const v = readableViewport({ x: 0, y: 0, width: 200, height: 100 }, canvas, { padding: 40 });
    expect(v.zoom).toBe(1);
    expect(v.x).toBe(300);
    expect(v.y).toBe(250);
  });
  it('zooms out to fit while that stays readable', () => {
    const v = readableViewport({ x: 0, y: 0, width: 900, height: 100 }, canvas, { padding: 40, minZoom: 0.75 });
    expect(v.zoom).toBeCloseTo(720 / 900);
    expect(v.x).toBeCloseTo(40);
  });
  it('never goes below the readable zoom: a wide graph is shown from its left (trigger) side', () => {
    // Six nodes in a row after Auto-layout: 5 × 280 + 220 px wide.
    const v = readableViewport({ x: 100, y: 50, width: 1620, height: 60 }, canvas, { padding: 40, minZoom: 0.75 });
    expect(v.zoom).toBe(0.75);
    expect(v.x).toBe(40 - 100 * 0.75); // the graph's left edge sits at the padding
    expect(v.y).toBeCloseTo((600 - 60 * 0.75) / 2 - 50 * 0.75); // centred vertically
  });
  it('starts at the top of a graph too tall to fit', () => {
    const v = readableViewport({ x: 0, y: -200, width: 300, height: 2000 }, canvas, { padding: 40, minZoom: 0.75 });
    expect(v.zoom).toBe(0.75);
    expect(v.y).toBe(40 + 200 * 0.75);
    expect(v.x).toBeCloseTo((800 - 300 * 0.75) / 2);
  });
});

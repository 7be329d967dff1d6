import { describe, expect, it } from 'vitest';
import { edgeAriaLabel, nodeNames, portTitle, shownName, withNodeNames } from './nodeNames';

const def = {
  nodes: [
    { id: 'too_few', type: 'fail', name: 'Too few' },
    { id: 'check', type: 'condition', name: 'Big order?' },
    { id: 'bare', type: 'log', name: '' },
  ],
  edges: [
    { id: 'e1', source: 'check', target: 'too_few', source_port: 'false' },
    { id: 'e2', source: 'bare', target: 'check' },
  ],
};

describe('node names', () => {
  it('writes the engine’s node ids as the names users gave', () => {
    const { nameOf } = nodeNames(def);
    expect(withNodeNames("node 'too_few' failed: only 3 orders", nameOf)).toBe('“Too few” failed: only 3 orders');
    expect(withNodeNames('node "check" is not reachable from the trigger', nameOf)).toBe('“Big order?” is not reachable from the trigger');
    expect(withNodeNames("Node 'too_few' has the unknown type 'nope'.", nameOf)).toBe("“Too few” has the unknown type 'nope'.");
  });
  it('keeps ids of nodes without a name, and of nodes it does not know', () => {
    const { nameOf } = nodeNames(def);
    expect(withNodeNames("node 'bare' failed", nameOf)).toBe("node 'bare' failed");
    expect(withNodeNames("node 'ghost' failed", nameOf)).toBe("node 'ghost' failed");
    expect(withNodeNames('a plain message', nameOf)).toBe('a plain message');
  });
  it('labels connections by their ends', () => {
    const { edgeLabel } = nodeNames(def);
    expect(edgeLabel('e1')).toBe('Big order? (false) → Too few');
    expect(edgeLabel('e2')).toBe('bare → Big order?');
    expect(edgeLabel('nope')).toBe('nope');
  });

  it('says connections and ports on the canvas by node name, not id', () => {
    expect(shownName({ name: 'Big order?', type: 'condition' }, { label: 'Condition' })).toBe('Big order?');
    expect(shownName({ name: '  ', type: 'log' }, { label: 'Log' })).toBe('Log');
    expect(shownName({ type: 'custom' }, undefined)).toBe('custom');
    expect(edgeAriaLabel('Big order?', 'false', 'Too few')).toBe('Connection from Big order? (false) to Too few');
    expect(edgeAriaLabel('Start', 'out', 'Big order?')).toBe('Connection from Start to Big order?');
    expect(portTitle('Big order?', 'true')).toBe('Big order?: output “true”');
    expect(portTitle('Fetch', 'out')).toBe('Fetch: output');
    expect(portTitle('Join', null, true)).toBe('Join: input (joins every branch connected here)');
    expect(portTitle('Fetch', null)).toBe('Fetch: input');
  });
});

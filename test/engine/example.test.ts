import { describe } from 'vitest';
import fc from 'fast-check';
import * as E from '../../engine/index.js';
import { broadcastPairArb, shapeArb, tensorArb } from '../helpers/arbitraries.js';
import { opProperty } from '../helpers/props.js';

describe('elementwise', () => {
  opProperty('exp', { inputs: shapeArb().chain((s) => tensorArb(s)).map((x) => [x]), fn: E.exp });
  opProperty('mul', {
    inputs: broadcastPairArb().chain(([a, b]) => fc.tuple(tensorArb(a), tensorArb(b))),
    fn: E.mul,
  });
});

import { describe, expect, test } from 'vitest';
import * as E from '../../engine/index.js';
import { MnistClassifier, MnistClassifierFoundation } from '../../models/foundation/index.js';
import { loadMnistClassifier } from '../../eval/classifier/model.js';
import { buildVavae } from '../../train/models.js';
import { validate } from '../../train/config/load.js';
import { trainVaeSchema } from '../../train/config/schema.js';
import { tinyVae } from '../train/configs.js';

describe('MnistClassifierFoundation (the bundled VF-loss encoder)', () => {
  test('conv3: 64-wide 4×4 maps of images resized to 32×32, frozen, without gradients', async () => {
    const classifier = await loadMnistClassifier();
    const foundation = new MnistClassifierFoundation(classifier, 'conv3');
    expect([foundation.featureDim, foundation.gridSize]).toEqual([64, 4]);
    const x = E.randn([2, 1, 16, 16]).requiresGrad_();
    const features = foundation.forward(x);
    expect(features.shape).toEqual([2, 64, 4, 4]);
    expect(features.requiresGrad).toBe(false);
    const direct = E.noGrad(() => classifier.featureMaps(E.interpolateBilinear(x, [32, 32])).conv3);
    expect(features.toArraySync()).toEqual(direct.toArraySync());
    expect(classifier.parameters().every((p) => !p.requiresGrad)).toBe(true);
    expect([...foundation.stateDict().keys()][0]).toBe('model.conv1.weight');
  });

  test('conv2: 32-wide 8×8 maps; 32×32 images are used as they are', () => {
    const classifier = new MnistClassifier();
    const foundation = new MnistClassifierFoundation(classifier, 'conv2');
    expect([foundation.featureDim, foundation.gridSize]).toEqual([32, 8]);
    const x = E.randn([3, 1, 32, 32]);
    expect(foundation.forward(x).toArraySync()).toEqual(E.noGrad(() => classifier.featureMaps(x).conv2).toArraySync());
  });

  test('the feature map is the classifier’s own path: its features are fc1 of conv3', () => {
    const classifier = new MnistClassifier();
    const x = E.randn([2, 1, 32, 32]);
    const viaMaps = E.relu(classifier.fc1.forward(E.flatten(classifier.featureMaps(x).conv3, 1)));
    expect(classifier.features(x).toArraySync()).toEqual(viaMaps.toArraySync());
  });

  test('rejects colour images with a message naming the shape', () => {
    expect(() => new MnistClassifierFoundation(new MnistClassifier()).forward(E.zeros([1, 3, 32, 32]))).toThrow(/\[1, ?3, ?32, ?32\]/);
  });
});

describe('train-vae with the bundled foundation encoder', () => {
  test('the default weights load into the VF branch; linear_proj maps the latent to the foundation width', async () => {
    const config = validate(trainVaeSchema, { ...tinyVae('/tmp/unused', { source: 'mnist', split: 'test', imageSize: 16, limit: 8 }), foundation: { kind: 'mnist-classifier', layer: 'conv2' } }, 'test');
    const model = await buildVavae(config);
    expect(model.foundation_model?.featureDim).toBe(32);
    expect(model.linear_proj?.weight.shape).toEqual([32, 4, 1, 1]);
    const { vf } = E.noGrad(() => model.trainingForward(E.randn([2, 1, 16, 16])));
    expect(vf?.zProjected.shape).toEqual([2, 32, 8, 8]);
    expect(vf?.features.shape).toEqual([2, 32, 8, 8]);
  });

  test('a feature grid that does not match the latent grid is refused, naming both', async () => {
    const config = validate(trainVaeSchema, { ...tinyVae('/tmp/unused', { source: 'mnist', split: 'test', imageSize: 16, limit: 8 }), foundation: { kind: 'mnist-classifier', layer: 'conv3' } }, 'test');
    await expect(buildVavae(config)).rejects.toThrow(/feature grid is 4×4 but the latent grid is 8×8/);
  });

  test('an unknown layer is a configuration error naming the key', () => {
    expect(() => validate(trainVaeSchema, { ...tinyVae('/tmp/unused', { source: 'mnist', split: 'test', imageSize: 16, limit: 8 }), foundation: { kind: 'mnist-classifier', layer: 'fc1' } }, 'test')).toThrow(/layer/);
  });
});

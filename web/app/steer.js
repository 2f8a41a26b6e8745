// Feature axes in the page, the TL-GAN way, as latentkit's apply_moves does it
// (latentkit/steer/axes.cpp): the moved directions are projected off the span of the locked
// ones (least squares) and renormalised, so an edit leaves every locked feature's
// coordinate where it was; the latent moves by the sum of amount x direction.

/** The axes of an .axes.json (latentkit export --axes) checked against a model's latent size. */
export function readAxes(json, latentDim, source = 'axes file') {
  if (!json || json.format !== 'latentkit-axes' || !Array.isArray(json.axes)) {
    throw new Error(`${source}: not an axes file (expected "format": "latentkit-axes")`);
  }
  if (json.latent_dim !== latentDim) {
    throw new Error(`${source}: the axes were fitted for a ${json.latent_dim}-dim latent, the model's has ${latentDim}`);
  }
  return json.axes.map((a) => {
    const d = Float64Array.from(a.direction ?? []);
    if (d.length !== latentDim) throw new Error(`${source}: axis '${a.name}' has ${d.length} numbers, expected ${latentDim}`);
    const n = Math.hypot(...d);
    if (!(Math.abs(n - 1) < 1e-3)) throw new Error(`${source}: axis '${a.name}' is not a unit vector (length ${n})`);
    for (let i = 0; i < d.length; i++) d[i] /= n;
    const details = a.details ?? {};
    return {
      name: a.name,
      label: a.label ?? a.name,
      kind: a.kind,
      source: a.source ?? '',
      metric: a.quality?.metric ?? '',
      quality: a.quality?.value ?? 0,
      slope: a.slope ?? 0,
      bias: details.bias ?? 0,
      direction: d,
    };
  });
}

export const dot = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** The feature an axis predicts at z: a probability (logistic) or the fitted value (ridge). */
export function predict(axis, z) {
  const x = axis.slope * dot(axis.direction, z) + axis.bias;
  return axis.kind === 'logistic' ? 1 / (1 + Math.exp(-x)) : x;
}

// An orthonormal basis of the span of the vectors (modified Gram-Schmidt, twice for
// stability); vectors nearly inside the span of the earlier ones add nothing, as the
// pseudo-inverse in lock_directions ignores them.
function basis(vectors) {
  const out = [];
  for (const v of vectors) {
    const u = Float64Array.from(v);
    for (let pass = 0; pass < 2; pass++) {
      for (const b of out) {
        const c = dot(u, b);
        for (let i = 0; i < u.length; i++) u[i] -= c * b[i];
      }
    }
    const n = Math.hypot(...u);
    if (n > 1e-9) out.push(u.map((x) => x / n));
  }
  return out;
}

/**
 * z moved by moves ({axisIndex: amount}) with the locked axes (indices) held: a move along a
 * locked axis goes along its own direction, every other along its direction projected off
 * the locked span and renormalised. Throws when a moved axis lies in the locked span.
 */
export function applyMoves(axes, z, moves, locked) {
  const out = Float64Array.from(z);
  const lockedSet = new Set(locked);
  const span = basis([...lockedSet].map((i) => axes[i].direction));
  for (const [key, amount] of Object.entries(moves)) {
    const i = Number(key);
    if (!amount) continue;
    let d = axes[i].direction;
    if (!lockedSet.has(i) && span.length) {
      d = Float64Array.from(d);
      for (const b of span) {
        const c = dot(d, b);
        for (let k = 0; k < d.length; k++) d[k] -= c * b[k];
      }
      const n = Math.hypot(...d);
      if (!(n > 1e-6)) throw new Error(`axis '${axes[i].name}' lies in the span of the locked axes; unlock one of them`);
      for (let k = 0; k < d.length; k++) d[k] /= n;
    }
    for (let k = 0; k < out.length; k++) out[k] += amount * d[k];
  }
  return out;
}

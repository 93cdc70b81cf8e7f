# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # nnkrr in ten minutes: kernels, ridge regression, leverage sampling, one trained network
#
# A wide, ℓ2-regularised two-layer ReLU network trained by gradient descent should predict what
# NTK kernel ridge regression (NTK-KRR) predicts (Lee, Shen, Song, Wang, Yu, NeurIPS 2020).
# This walk-through uses the public API on a small problem; it runs in well under two minutes on a CPU.

# %%
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # float64 for the references

from nnkrr import data, features, gap, kernels, krr, models, sampling, train  # noqa: E402

# %% [markdown]
# ## Data and the exact NTK
# `data.cone` puts points in a narrow cone: the anisotropic case where leverage sampling helps.

# %%
ds = data.cone(0, n_train=64, n_test=64, dim=6, spread=0.05)
x, xt = jnp.asarray(ds.x_train), jnp.asarray(ds.x_test)
y, yt = jnp.asarray(ds.y_train[:, 0]), jnp.asarray(ds.y_test[:, 0])
k = kernels.relu_ntk(x)  # neural-tangents: d * (ntk - nngp) of the stax network
print("stax vs closed form:", float(jnp.max(jnp.abs(k - kernels.relu_ntk_closed_form(x)))))

# %% [markdown]
# ## Kernel ridge regression with an exact ridge λ

# %%
lam = 0.05
f_star = krr.fit_predict(k, y, kernels.relu_ntk(xt, x), lam)
print(
    f"NTK-KRR test MSE {float(jnp.mean((f_star - yt) ** 2)):.4f} "
    f"(predicting 0: {float(jnp.mean(yt**2)):.4f})"
)

# %% [markdown]
# ## Leverage scores and sampling
# score(w) = τ_λ(w)/p(w); its mean under p is the statistical dimension s_λ. How far its supremum is
# above s_λ ("flatness") says how much leverage sampling can gain.

# %%
lev = sampling.leverage(x, lam, k=k)
print({key: round(v, 3) for key, v in sampling.flatness(jax.random.key(0), lev).items()})
m = 512
gauss = sampling.sample(jax.random.key(1), x, m, sampler="gaussian")
lever = sampling.sample(jax.random.key(1), x, m, sampler="leverage", lev=lev)
print("acceptance rate of the exact rejection sampler:", float(lever.stats["acceptance_rate"]))
for name, s in [("gaussian", gauss), ("leverage", lever)]:
    eps = features.spectral_epsilon(k, features.rf_kernel(x, None, s), lam)
    print(f"{name:9} spectral error eps = {float(eps):.3f} with m = {m} features")

# %% [markdown]
# ## One network, trained, against NTK-KRR
# Lazy regime: symmetric initialisation (f(W(0), ·) = 0) and the ridge centred at W(0).

# %%
w, c, a = models.symmetric_pairs(
    lever.w, lever.scale, jax.random.rademacher(jax.random.key(2), (m,), jnp.float64)
)
variables = models.init_variables(sampling.FeatureSample(w, c), a)
net = models.TwoLayerReLU(width=2 * m)
km = features.rf_kernel(x, None, sampling.FeatureSample(w, c))
mu_m, mu = np.linalg.eigvalsh(np.asarray(km)), np.linalg.eigvalsh(np.asarray(k))
lr = train.step_size(mu_m[-1], lam)
steps = int(np.ceil(train.horizon(mu[0], lam) / lr))
cfg = train.TrainConfig(lam=lam, learning_rate=lr, steps=steps, centre="init")
batched = jax.tree.map(lambda v: v[None], variables)  # a leading seed axis (here one seed)
state = train.fit(net.apply, batched, x, y, cfg)
trained = {
    "params": jax.tree.map(lambda v: v[0], state.params),
    "constants": variables["constants"],
}
f_nn = net.apply(trained, xt)
print(
    f"{steps} GD steps; RMS |f_nn - f*| = {float(gap.rms(f_nn - f_star)):.4f}, "
    f"relative {float(gap.rms(f_nn - f_star) / gap.rms(f_star)):.3f}"
)

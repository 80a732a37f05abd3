"""`tfrec bench train --framework jax`: the four modes through the JAX trainer, and a plain JAX loop beside."""

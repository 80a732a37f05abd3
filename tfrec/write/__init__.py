"""Planning and conversion: which record goes to which shard, and writing the shards and dataset.json.

Modules, each importing only those before it: plan (the pure shard layout), tfds (the TensorFlow
Datasets metadata), beam_glue (the Apache Beam glue, which check/ uses too), options (ConvertOptions),
shards (the per-shard unit of work both runners share: encode, write with its .idx, journal), output
(OUT's state), job (the plan computed once, dataset.json written last), then the two runners: convert
(a local process pool, and `convert` itself) and beam (a Beam pipeline).
"""

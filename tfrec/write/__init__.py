"""Planning and conversion: which record goes to which shard, and writing the shards and dataset.json."""

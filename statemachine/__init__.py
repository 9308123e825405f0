"""Pure rollout logic: from an observed snapshot, decide the next desired world and state. No I/O."""

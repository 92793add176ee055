"""Training scripts: self-supervised backbone refresh and the identity re-ID head."""

"""Chat: the provider contract and built-ins (:mod:`.providers`), routing of
``<profile>/<model>`` names to a provider (:mod:`.routing`), and the edge
codecs between client wire formats and the neutral vocabulary
(:mod:`.codecs`)."""

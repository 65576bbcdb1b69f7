"""Looking at a generator: samples, standing statistics, what an evaluation
measures and draws, and the pictures it writes."""

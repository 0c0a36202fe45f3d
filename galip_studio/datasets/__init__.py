"""Dataset builders that turn open-licensed art into image–caption folders for training."""

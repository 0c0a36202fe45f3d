"""Dataset builders that turn open-licensed art into image–caption folders for training, and the packer
that re-encodes any training folder compactly (WebP plus one metadata.jsonl) to ship it.

``galip-studio data`` (:mod:`galip_studio.cli.data`) groups their sub-commands."""

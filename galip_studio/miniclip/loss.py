"""The mini-CLIP's objective: a symmetric InfoNCE where a caption is a positive of every image that has it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def positive_mask(caption_table: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
    """``[B, B]`` bool: image a and caption b match when caption b is one of image a's captions.

    ``caption_table`` ``[B, C]`` holds each batch image's caption ids (-1 padded), ``caption_ids``
    ``[B]`` the caption drawn for each. So "red apple" drawn for the 3d image is also a positive of the
    flat images of red apple, while "a 3d emoji of a red apple" is not.
    """
    return (caption_table[:, :, None] == caption_ids[None, None, :]).any(1)


def multi_positive_infonce(
    image_emb: torch.Tensor, text_emb: torch.Tensor, positives: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric CLIP InfoNCE whose targets spread evenly over all positives of a row (fp32).

    ``positives[a, b]`` marks image a / text b as a match; the diagonal must be true. With an
    identity mask this is exactly the CLIP loss.
    """
    img = F.normalize(image_emb.float(), dim=-1)
    txt = F.normalize(text_emb.float(), dim=-1)
    logits = logit_scale.float().exp() * img @ txt.T
    target = positives.float()
    loss_img = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    loss_txt = -(target.T / target.T.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    return (loss_img + loss_txt) / 2

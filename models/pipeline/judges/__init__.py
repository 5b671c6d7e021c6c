"""The judges of the distill ensemble: is this pair a realistic, reliable rainy training sample,
consistent with the real rainy references retrieved for it?

Every judge implements `models.pipeline.roles.Judge` and is built by `load_role(profile, "judge_N")`:
  - `offline`   three measured, non-neural judges (rain layer, aligned background, clean ground truth);
  - `vlm`       a transformers vision-language model (LLaVA-NeXT, InternVL, MobileVLM) asked the
                versioned question of `prompts/`;
  - `endpoint`  the same question sent to an OpenAI-compatible chat endpoint (vLLM, SGLang, or
                `python -m models.pipeline.judges.serve`).
"""

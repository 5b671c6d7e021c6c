"""Models of rainrag, in two wings (filled by the model issues):

- the distill pipeline's pretrained models behind one small interface per role (captioner, expander,
  keyword extractor, text and image encoders, IQA scorer, judges), chosen by a profile;
- the restoration networks (UniRain, baselines, reweighting).
"""

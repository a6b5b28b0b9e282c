"""Straight-through processing: calibrated confidence, cut-offs at a target accuracy, routing.

``calibration`` maps a decoded entity's confidence to the chance that it is right as the scorer
counts it; ``cutoffs`` chooses per field the lowest calibrated confidence whose accepted
predictions reach the target accuracy by a one-sided lower bound; ``fit`` does both on a
training run's held-out data; ``routing`` decides per document what is auto-accepted;
``measure`` turns reviews into automation rates, QA accuracy and stratified live accuracy.
"""

"""The loop's life as plain Python, one module per step (no Dagster here).

``monitor`` decides whether live accuracy calls for a retrain and claims it; ``curate`` builds
the retraining set and opens the cycle; ``candidate`` records the trained version under its
attempt name; ``evaluate`` runs the gauntlet; ``promote`` promotes, rejects and rolls back with
one champion order. All of them go through ``cycle``, the only writer of the retrain state and
of retrain cycles outside the store. The Dagster assets and sensors in ``defs/``, the admin
API, the CLI, ``loop_driver`` and the demo call these functions.

The retrain state of a model type (on its default version's row)::

    IDLE/COMPLETED/FAILED --claim--> TRIGGERED --begin--> INPROGRESS --archive--> COMPLETED
                                          |                   |--release (rejected)--> FAILED
                                          +------fail---------+--fail (crash, cancel)--> FAILED
    TRIGGERED/INPROGRESS/FAILED --reset (operator)--> IDLE

``claim`` from a rejection's FAILED is the re-arm: the monitor makes it once enough documents
arrived since the rejection, until ``max_attempts`` automatic attempts were rejected; a crash's
FAILED is claimable at once (see ``monitor``).

Named attempts: the registry version stays MLflow's integer; a candidate also gets a name a
person can use, ``v<N>`` for the first attempt of the cycle that aims at the N-th generation
(the first cycle after the baseline ``v1`` aims at ``v2``) and ``v<N>.<k>`` for its k-th
retry (re-armed by the monitor or started by an operator): ``v2.1`` is the second attempt at
``v2``. The name is the version's ``name`` tag in the
registry (with ``cycle``, ``attempt``, ``parent`` and, once decided, ``decision``), its
description, and the model table keeps it with the version's figures (``version_name``).
"""

"""The studies of experiments 23-24's caches made again from their seeds: ``study_maker(kind)`` returns the same
generator call as ``exp23/cache.py`` (phantoms 512x512x64; real anatomy: 48-slice slabs of the POPI CT)."""


def study_maker(kind: str):
    if kind in ("real", "real-anatomy"):
        from IExplainLib.evaluation.quality_sets import RealCT
        from IExplainLib.phantoms.real_anatomy import make_real_anatomy_study
        anatomy = RealCT().anatomy(None)

        def make(seed):
            return make_real_anatomy_study(anatomy, seed, slices=48)
        return make
    from IExplainLib.phantoms import make_study

    def make_phantom(seed):
        return make_study(seed, slices=64, size=512)
    return make_phantom

"""pyrolite's public surface against the installed Pyro (pyro-ppl, a dev dependency).

For each Pyro module below, every public name Pyro defines there (its ``__all__``, or else
each non-underscore class or function whose ``__module__`` is that module) must exist in
pyrolite's module of the same path, or be listed in ``EXCLUDED`` with its reason. The main
entry points must accept Pyro's parameters by the same names, in the same positions, with
pyrolite's own extras after all of Pyro's.
"""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

pyro = pytest.importorskip("pyro")

MODULES = [
    "pyro",
    "pyro.poutine",
    "pyro.poutine.runtime",
    "pyro.poutine.util",
    "pyro.infer",
    "pyro.infer.autoguide",
    "pyro.infer.mcmc",
    "pyro.infer.reparam",
    "pyro.infer.util",
    "pyro.distributions",
    "pyro.distributions.constraints",
    "pyro.distributions.transforms",
    "pyro.distributions.util",
    "pyro.optim",
    "pyro.nn",
    "pyro.ops.stats",
    "pyro.util",
]

_DEPRECATED = "deprecated in Pyro; pyrolite keeps no deprecated aliases"
_MODULES_ISSUE = "issue 12: PyroModule, reparameterisers, more autoguides"
_DISTS_ISSUE = "issue 13: Pyro's distribution library"
_FLOWS_ISSUE = "issue 13: Pyro's distribution library (the remaining flows)"
_ENUM_ISSUE = "issue 14: enumeration"
_INFER_ISSUE = "issue 12: Pyro's other inference algorithms (SMC, SVGD, CSIS, StreamingMCMC, ...)"
_JIT_ISSUE = "issue 15: compiled steps"

# The one table of what pyrolite does not provide. Keys: a Pyro name ("pyro.x.Name"), a whole
# Pyro module ("pyro.x", when pyrolite lacks it entirely), or a parameter of an entry point
# ("pyro.x.Name(param)", used by the signature tests).
EXCLUDED: dict[str, str] = {
    # -- modules pyrolite lacks entirely
    "pyro.infer.reparam": _MODULES_ISSUE,
    "pyro.ops.stats": _INFER_ISSUE + " (MCMC's diagnostics are in pyrolite.infer.mcmc.util)",
    # -- pyro
    "pyro.iarange": _DEPRECATED,
    "pyro.irange": _DEPRECATED,
    "pyro.random_module": _DEPRECATED,
    "pyro.log": "Pyro's package logger object; pyrolite logs through logging.getLogger",
    "pyro.settings": "Pyro's global settings registry; pyrolite has no global settings",
    "pyro.markov": _ENUM_ISSUE,
    "pyro.render_model": _INFER_ISSUE + " (needs graphviz)",
    # -- pyro.poutine
    "pyro.poutine.collapse": "funsor backend; pyrolite has no funsor integration",
    "pyro.poutine.enum": _ENUM_ISSUE,
    "pyro.poutine.markov": _ENUM_ISSUE,
    "pyro.poutine.queue": _ENUM_ISSUE + " (sequential enumeration)",
    "pyro.poutine.equalize": "tier R handlers: a later issue",
    "pyro.poutine.reparam": _MODULES_ISSUE,
    "pyro.poutine.unwrap": "tier R handlers: a later issue",
    # -- pyro.infer
    "pyro.infer.TraceEnum_ELBO": _ENUM_ISSUE,
    "pyro.infer.JitTraceEnum_ELBO": _ENUM_ISSUE,
    "pyro.infer.TraceTMC_ELBO": _ENUM_ISSUE,
    "pyro.infer.config_enumerate": _ENUM_ISSUE,
    "pyro.infer.infer_discrete": _ENUM_ISSUE,
    "pyro.infer.JitTraceGraph_ELBO": _JIT_ISSUE + " (JIT ELBOs)",
    "pyro.infer.JitTraceMeanField_ELBO": _JIT_ISSUE + " (JIT ELBOs)",
    "pyro.infer.CSIS": _INFER_ISSUE,
    "pyro.infer.EmpiricalMarginal": _INFER_ISSUE,
    "pyro.infer.EnergyDistance": _INFER_ISSUE,
    "pyro.infer.IMQSteinKernel": _INFER_ISSUE,
    "pyro.infer.MHResampler": _INFER_ISSUE,
    "pyro.infer.RBFSteinKernel": _INFER_ISSUE,
    "pyro.infer.RandomWalkKernel": _INFER_ISSUE,
    "pyro.infer.ReweightedWakeSleep": _INFER_ISSUE,
    "pyro.infer.SMCFilter": _INFER_ISSUE,
    "pyro.infer.SVGD": _INFER_ISSUE,
    "pyro.infer.TracePosterior": _INFER_ISSUE,
    "pyro.infer.TracePredictive": _DEPRECATED,
    "pyro.infer.TraceTailAdaptive_ELBO": _INFER_ISSUE,
    "pyro.infer.Trace_MMD": _INFER_ISSUE,
    "pyro.infer.WeighedPredictive": _INFER_ISSUE,
    # -- pyro.infer.autoguide
    "pyro.infer.autoguide.AutoCallable": _MODULES_ISSUE,
    "pyro.infer.autoguide.AutoDiscreteParallel": _ENUM_ISSUE,
    "pyro.infer.autoguide.AutoGaussian": _MODULES_ISSUE,
    "pyro.infer.autoguide.AutoHierarchicalNormalMessenger": _MODULES_ISSUE,
    "pyro.infer.autoguide.AutoLaplaceApproximation": _MODULES_ISSUE,
    "pyro.infer.autoguide.AutoMessenger": _MODULES_ISSUE,
    "pyro.infer.autoguide.AutoNormalMessenger": _MODULES_ISSUE,
    "pyro.infer.autoguide.AutoRegressiveMessenger": _MODULES_ISSUE,
    "pyro.infer.autoguide.AutoStructured": _MODULES_ISSUE,
    "pyro.infer.autoguide.init_to_generated": _MODULES_ISSUE,
    "pyro.infer.autoguide.mean_field_entropy": _MODULES_ISSUE,
    # -- pyro.infer.mcmc
    "pyro.infer.mcmc.RandomWalkKernel": _INFER_ISSUE,
    "pyro.infer.mcmc.StreamingMCMC": _INFER_ISSUE,
    # -- pyro.infer.util
    "pyro.infer.util.Dice": _ENUM_ISSUE,
    "pyro.infer.util.compute_site_dice_factor": _ENUM_ISSUE,
    "pyro.infer.util.plate_log_prob_sum": _ENUM_ISSUE,
    "pyro.infer.util.CloneMixin": _INFER_ISSUE + " (comes with WeighedPredictive)",
    # -- pyro.distributions
    **{
        f"pyro.distributions.{name}": _DISTS_ISSUE
        for name in (
            "AVFMultivariateNormal AffineBeta AsymmetricLaplace BetaBinomial "
            "CoalescentRateLikelihood CoalescentTimes CoalescentTimesWithRate "
            "ConditionalDistribution ConditionalTransformedDistribution DirichletMultinomial "
            "DiscreteHMM Empirical ExponentialFamily ExtendedBetaBinomial "
            "ExtendedBinomial FoldedDistribution GammaGaussianHMM GammaPoisson GaussianHMM "
            "GaussianMRF GaussianScaleMixture GroupedNormalNormal IndependentHMM LKJ LinearHMM "
            "LogNormalNegativeBinomial Logistic MaskedMixture MixtureOfDiagNormals "
            "MixtureOfDiagNormalsSharedCovariance MultivariateStudentT "
            "NanMaskedMultivariateNormal NanMaskedNormal OMTMultivariateNormal OneOneMatching "
            "OneTwoMatching OrderedLogistic ProjectedNormal Rejector "
            "RelaxedBernoulliStraightThrough RelaxedOneHotCategoricalStraightThrough "
            "SineBivariateVonMises SineSkewed SkewLogistic SoftAsymmetricLaplace SoftLaplace "
            "SpanningTree Stable StableWithLogProb TruncatedPolyaGamma VonMises3D "
            "ZeroInflatedDistribution ZeroInflatedNegativeBinomial ZeroInflatedPoisson"
        ).split()
    },
    "pyro.distributions.ConditionalTransform": _FLOWS_ISSUE,
    "pyro.distributions.ConditionalTransformModule": _FLOWS_ISSUE,
    "pyro.distributions.LKJCorrCholesky": _DEPRECATED,
    # -- pyro.distributions.constraints
    **{
        f"pyro.distributions.constraints.{name}": _DISTS_ISSUE
        for name in (
            "corr_cholesky_constraint corr_matrix softplus_lower_cholesky sphere "
            "unit_lower_cholesky"
        ).split()
    },
    # -- pyro.distributions.transforms
    **{
        f"pyro.distributions.transforms.{name}": _FLOWS_ISSUE
        for name in (
            "BatchNorm BlockAutoregressive CholeskyTransform ConditionalAffineAutoregressive "
            "ConditionalAffineCoupling ConditionalGeneralizedChannelPermute "
            "ConditionalHouseholder ConditionalMatrixExponential "
            "ConditionalNeuralAutoregressive ConditionalPlanar ConditionalRadial "
            "ConditionalSpline ConditionalSplineAutoregressive CorrMatrixCholeskyTransform "
            "DiscreteCosineTransform ELUTransform GeneralizedChannelPermute HaarTransform "
            "Householder LeakyReLUTransform LowerCholeskyAffine MatrixExponential "
            "NeuralAutoregressive Normalize Polynomial PositivePowerTransform "
            "SimplexToOrderedTransform SoftplusLowerCholeskyTransform Spline "
            "SplineAutoregressive SplineCoupling Sylvester batchnorm block_autoregressive "
            "conditional_affine_autoregressive conditional_affine_coupling "
            "conditional_generalized_channel_permute conditional_householder "
            "conditional_matrix_exponential conditional_neural_autoregressive "
            "conditional_planar conditional_radial conditional_spline "
            "conditional_spline_autoregressive elu generalized_channel_permute householder "
            "iterated leaky_relu matrix_exponential neural_autoregressive polynomial spline "
            "spline_autoregressive spline_coupling sylvester"
        ).split()
    },
    "pyro.distributions.transforms.CorrLCholeskyTransform": _DEPRECATED,
    # -- pyro.optim
    "pyro.optim.Adafactor": "not planned: Pyro's own extra optimiser",
    "pyro.optim.AdagradRMSProp": "not planned: Pyro's own extra optimiser",
    "pyro.optim.DCTAdam": "not planned: Pyro's own extra optimiser",
    "pyro.optim.HorovodOptimizer": "not planned: needs horovod",
    "pyro.optim.Muon": "not planned: Pyro's own extra optimiser",
    "pyro.optim.SparseAdam": "not planned: sparse gradients are not supported",
    "pyro.optim.ChainedScheduler": "torch scheduler wrapper not provided yet",
    "pyro.optim.SequentialLR": "torch scheduler wrapper not provided yet",
    "pyro.optim.LRScheduler": "torch scheduler wrapper not provided yet",
    "pyro.optim._LRScheduler": _DEPRECATED,
    # -- pyro.nn
    "pyro.nn.PyroModule": _MODULES_ISSUE,
    "pyro.nn.PyroModuleList": _MODULES_ISSUE,
    "pyro.nn.PyroParam": _MODULES_ISSUE,
    "pyro.nn.PyroSample": _MODULES_ISSUE,
    "pyro.nn.pyro_method": _MODULES_ISSUE,
    "pyro.nn.ConditionalAutoRegressiveNN": _FLOWS_ISSUE,
    "pyro.nn.ConditionalDenseNN": _FLOWS_ISSUE,
    # -- pyro.util
    "pyro.util.check_traceenum_requirements": _ENUM_ISSUE,
    "pyro.util.save_visualization": _DEPRECATED + " (Pyro points to render_model)",
    # -- parameters of entry points
    "pyro.infer.SVI(num_samples)": _DEPRECATED + " (posterior sampling through SVI)",
    "pyro.infer.SVI(num_steps)": _DEPRECATED + " (posterior sampling through SVI)",
    "pyro.infer.SVI(**kwargs)": _DEPRECATED + " (TracePosterior's arguments)",
    **{
        f"pyro.infer.{elbo}({param})": reason
        for elbo in ("Trace_ELBO", "TraceGraph_ELBO", "TraceMeanField_ELBO", "RenyiELBO")
        for param, reason in (
            ("max_iarange_nesting", _DEPRECATED),
            ("tail_adaptive_beta", "only TraceTailAdaptive_ELBO reads it: " + _INFER_ISSUE),
        )
    },
}


def _pyro_public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return sorted(set(module.__all__))
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module_name
    )


def _pyrolite_module(module_name: str) -> types.ModuleType | None:
    try:
        return importlib.import_module("pyrolite" + module_name[len("pyro") :])
    except ImportError:
        return None


@pytest.mark.parametrize("module_name", MODULES)
def test_module_has_pyros_public_names(module_name):
    ours = _pyrolite_module(module_name)
    if module_name in EXCLUDED:
        assert ours is None, f"{module_name} exists now: remove its row from EXCLUDED"
        return
    assert ours is not None, f"pyrolite lacks the module {module_name} (add it, or a row)"
    missing = [
        name
        for name in _pyro_public_names(module_name)
        if not hasattr(ours, name) and f"{module_name}.{name}" not in EXCLUDED
    ]
    assert not missing, f"{module_name}: pyrolite lacks {missing} (add them, or rows to EXCLUDED)"


def test_excluded_names_are_still_missing():
    """The table stays short: a name pyrolite has gained must leave it."""
    stale = []
    for key in EXCLUDED:
        if "(" in key or key in MODULES:
            continue
        module_name, _, name = key.rpartition(".")
        ours = _pyrolite_module(module_name)
        if ours is not None and hasattr(ours, name):
            stale.append(key)
    assert not stale, f"pyrolite now has {stale}: remove them from EXCLUDED"


def test_excluded_names_exist_in_pyro():
    unknown = []
    for key in EXCLUDED:
        if "(" in key or key in MODULES:
            continue
        module_name, _, name = key.rpartition(".")
        if name not in _pyro_public_names(module_name):
            unknown.append(key)
    assert not unknown, f"EXCLUDED rows that are not public Pyro names: {unknown}"


# -- signatures ------------------------------------------------------------------------

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _label(param: inspect.Parameter) -> str:
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        return "*" + param.name
    if param.kind is inspect.Parameter.VAR_KEYWORD:
        return "**" + param.name
    return param.name


def signature_problems(qualname: str, theirs: object, ours: object) -> list[str]:
    """Where ``ours`` fails to accept a call written for ``theirs`` (Pyro's ``qualname``):
    each positional parameter at the same position with the same name, each keyword
    parameter by name, optional ones optional, and pyrolite's extra positional parameters
    only after all of Pyro's. Parameters listed in ``EXCLUDED`` are skipped."""
    their_params = [
        p
        for p in inspect.signature(theirs).parameters.values()
        if f"{qualname}({_label(p)})" not in EXCLUDED
    ]
    our_params = list(inspect.signature(ours).parameters.values())
    by_name = {p.name: p for p in our_params}
    problems = []
    their_pos = [p for p in their_params if p.kind in _POSITIONAL]
    our_pos = [p for p in our_params if p.kind in _POSITIONAL]
    for i, p in enumerate(their_pos):
        if i >= len(our_pos) or our_pos[i].name != p.name:
            got = our_pos[i].name if i < len(our_pos) else "nothing"
            problems.append(f"position {i}: Pyro has {p.name!r}, pyrolite has {got!r}")
    for p in their_params:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            if not any(q.kind is p.kind for q in our_params):
                problems.append(f"Pyro takes {_label(p)}, pyrolite does not")
            continue
        q = by_name.get(p.name)
        if q is None or q.kind is inspect.Parameter.POSITIONAL_ONLY:
            problems.append(f"pyrolite does not take {p.name!r} by name")
        elif p.default is not inspect.Parameter.empty and q.default is inspect.Parameter.empty:
            problems.append(f"{p.name!r} is optional in Pyro but required in pyrolite")
    their_names = {p.name for p in their_params}
    for q in our_params:
        if q.name not in their_names and q.default is inspect.Parameter.empty:
            if q.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                problems.append(f"pyrolite's extra {q.name!r} is required")
    return problems


def _entry_points() -> list[str]:
    import pyro.infer.autoguide

    names = [
        "pyro.plate",
        "pyro.param",
        "pyro.sample",
        "pyro.infer.SVI",
        "pyro.infer.Trace_ELBO",
        "pyro.infer.TraceGraph_ELBO",
        "pyro.infer.TraceMeanField_ELBO",
        "pyro.infer.RenyiELBO",
        "pyro.infer.Predictive",
        "pyro.infer.mcmc.MCMC",
        "pyro.infer.mcmc.NUTS",
        "pyro.infer.mcmc.HMC",
    ]
    ours = _pyrolite_module("pyro.infer.autoguide")
    names += [
        f"pyro.infer.autoguide.{name}"
        for name in pyro.infer.autoguide.__all__
        if name.startswith("Auto") and hasattr(ours, name)
    ]
    return names


def _resolve(qualname: str, package: str) -> object:
    module_name, _, name = qualname.rpartition(".")
    module = importlib.import_module(package + module_name[len("pyro") :])
    return getattr(module, name)


@pytest.mark.parametrize("qualname", _entry_points())
def test_entry_point_accepts_pyros_parameters(qualname):
    theirs = _resolve(qualname, "pyro")
    ours = _resolve(qualname, "pyrolite")
    problems = signature_problems(qualname, theirs, ours)
    assert not problems, (
        f"{qualname}{inspect.signature(ours)} vs Pyro's {inspect.signature(theirs)}: "
        + "; ".join(problems)
    )


def test_signature_check_catches_a_reordered_parameter():
    def pyro_fn(a, b=1, *, c=2): ...

    def swapped(b=1, a=None, *, c=2): ...

    def missing_c(a, b=1): ...

    def extra_required(a, b=1, d=None, *, c=2, e): ...

    assert signature_problems("f", pyro_fn, pyro_fn) == []
    assert "position 0: Pyro has 'a', pyrolite has 'b'" in signature_problems("f", pyro_fn, swapped)
    assert signature_problems("f", pyro_fn, missing_c) == ["pyrolite does not take 'c' by name"]
    assert signature_problems("f", pyro_fn, extra_required) == ["pyrolite's extra 'e' is required"]


def test_exclusion_table_size():
    """The exclusion table is kept short; this records its size so growth is a reviewed change
    (update the bound together with the rows)."""
    assert len(EXCLUDED) <= 206

"""Virtual populations: covariates with sources, variability, uncertainty, batched simulation."""

from nadsim.population._batch import BACKENDS as BACKENDS
from nadsim.population._batch import BatchOutputs as BatchOutputs
from nadsim.population._batch import run_batch as run_batch
from nadsim.population._covariates import COVARIATES as COVARIATES
from nadsim.population._covariates import Covariate as Covariate
from nadsim.population._covariates import CovariateModel as CovariateModel
from nadsim.population._memory import check_population_memory as check_population_memory
from nadsim.population._memory import population_memory_bytes as population_memory_bytes
from nadsim.population._population import VirtualPopulation as VirtualPopulation
from nadsim.population._population import covariate_parameters as covariate_parameters
from nadsim.population._population import sample_population as sample_population
from nadsim.population._population import simulate_population as simulate_population
from nadsim.population._variability import DEFAULT_CLASSES as DEFAULT_CLASSES
from nadsim.population._variability import DEFAULT_IIV as DEFAULT_IIV
from nadsim.population._variability import STONE_PLACEBO_CLASSES as STONE_PLACEBO_CLASSES
from nadsim.population._variability import Uncertainty as Uncertainty
from nadsim.population._variability import Variability as Variability
from nadsim.population._variability import mixture_mean as mixture_mean

__all__ = [
           "BACKENDS",
           "COVARIATES",
           "DEFAULT_CLASSES",
           "DEFAULT_IIV",
           "STONE_PLACEBO_CLASSES",
           "BatchOutputs",
           "Covariate",
           "CovariateModel",
           "Uncertainty",
           "Variability",
           "VirtualPopulation",
           "check_population_memory",
           "covariate_parameters",
           "mixture_mean",
           "population_memory_bytes",
           "run_batch",
           "sample_population",
           "simulate_population",
]

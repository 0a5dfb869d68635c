import torch

from pyrolite.infer.mcmc import graph_compile
from pyrolite.infer.mcmc.graph_compile import compile_graph
from pyrolite.infer.mcmc.integrator import potential_and_grad_from


def regression_potential(X, y):
    """A Gaussian linear regression's potential over (C, D) coefficients."""

    def potential(w):
        residual = y - (X @ w.T).T  # a matrix product with the data
        return 0.5 * (residual**2).sum(-1) + 0.5 * (w**2).sum(-1)

    return potential


def test_compiled_potential_and_gradient_equal_eager_with_a_matrix_product():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(300, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(300, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    pag = potential_and_grad_from(regression_potential(X, y))
    compiled = compile_graph(pag, (w,), "potential")
    assert compiled is not None
    for _ in range(3):
        w = torch.randn(3, 5, generator=gen, dtype=torch.float64)
        for got, want in zip(compiled(w), pag(w), strict=True):
            torch.testing.assert_close(got, want)
    # one chain: X @ w is a matrix-vector product, which goes to BLAS as a one-column matmul
    single = potential_and_grad_from(lambda w: 0.5 * ((y - X @ w[0]) ** 2).sum().reshape(1))
    compiled = compile_graph(single, (w[:1],), "potential")
    for got, want in zip(compiled(w[:1]), single(w[:1]), strict=True):
        torch.testing.assert_close(got, want)


def test_the_same_graph_on_the_same_data_compiles_once():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(50, 4, generator=gen)
    y = torch.randn(50, generator=gen)
    w = torch.zeros(2, 4)
    first = compile_graph(potential_and_grad_from(regression_potential(X, y)), (w,), "potential")
    entries = len(graph_compile._compiled)
    # a new closure over equal data: the same graph, found again
    again = compile_graph(
        potential_and_grad_from(regression_potential(X.clone(), y.clone())), (w,), "potential"
    )
    assert len(graph_compile._compiled) == entries
    torch.testing.assert_close(again(w + 0.5)[1], first(w + 0.5)[1])
    # other data: another graph, with its own numbers
    other = compile_graph(
        potential_and_grad_from(regression_potential(X, y + 1.0)), (w,), "potential"
    )
    assert len(graph_compile._compiled) == entries + 1
    assert not torch.allclose(other(w)[0], first(w)[0])

"""The codec ops of gnnpart._C against their references, their error bounds, bad input and opcheck."""
import pytest
import torch

from gnnpart.comm import codec_ops as codec

BOUND = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-9}  # of the row's largest magnitude


def table(rows=40, width=24, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, width, generator=g, dtype=dtype) * torch.logspace(-3, 3, rows, dtype=dtype).unsqueeze(1)
    x[5] = 0.0  # an all-zero row has scale 0
    return x


INDEX = torch.tensor([3, 7, 5, 39, 0, 12, 3])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("qtype", [torch.float16, torch.bfloat16, torch.int8])
@pytest.mark.parametrize("index", [INDEX, None])
def test_quantize_nearest_matches_reference(dtype, qtype, index):
    x = table(dtype=dtype)
    payload, scales = codec.quantize_rows(x, index, qtype)
    ref_payload, ref_scales = codec.quantize_rows_reference(x, index, qtype)
    torch.testing.assert_close(scales, ref_scales, rtol=1e-6, atol=0)
    diff = (payload.float() - ref_payload.float()).abs()
    # the kernel and the reference may round a value that sits on a rounding boundary differently
    assert (diff > 0).float().mean() < 0.01 and diff.max() <= (1 if qtype == torch.int8 else 2**-9)


@pytest.mark.parametrize("qtype", [torch.float16, torch.bfloat16, torch.int8])
@pytest.mark.parametrize("stochastic", [False, True])
def test_quantisation_error_within_bound(qtype, stochastic):
    x = table(rows=200, width=64)
    payload, scales = codec.quantize_rows(x, None, qtype, stochastic=stochastic and qtype == torch.int8, seed=3)
    decoded = codec.dequantize_rows(payload, scales)
    peak = x.abs().amax(dim=1, keepdim=True)
    if qtype == torch.int8:
        bound = peak / 127.0 if stochastic else peak / 254.0
    else:
        bound = peak * BOUND[qtype]
    assert torch.all((decoded - x).abs() <= bound * (1 + 1e-5) + 1e-30)
    assert torch.equal(decoded[5], torch.zeros(64))


def test_int8_stochastic_rounding_is_unbiased_and_keyed():
    x = torch.full((1, 4096), 0.3)
    x[0, 0] = 1.0  # the row's peak: step 1/127; 0.3 * 127 = 38.1 -> 38 or 39
    decoded = [codec.dequantize_rows(*codec.quantize_rows(x, None, torch.int8, True, seed)) for seed in range(8)]
    means = torch.stack([d[0, 1:].mean() for d in decoded])
    # 4095 draws: the mean's standard deviation is about 4e-5; nearest rounding is off by 0.1 / 127 = 7.9e-4
    assert torch.all((means - 0.3).abs() < 2e-4)
    nearest = codec.dequantize_rows(*codec.quantize_rows(x, None, torch.int8, False))[0, 1:]
    assert torch.all(nearest == nearest[0]) and abs(nearest[0].item() - 0.3) > 5e-4
    assert not torch.equal(decoded[0], decoded[1])  # the seed changes the draws
    again = codec.dequantize_rows(*codec.quantize_rows(x, None, torch.int8, True, 0))
    assert torch.equal(again, decoded[0])  # and the same seed repeats them


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dequantize_scatter_matches_reference(accumulate, dtype):
    x = table()
    payload, scales = codec.quantize_rows(x, INDEX, torch.int8, True, 1)
    out = torch.randn(50, 24, dtype=dtype)
    slots = INDEX if accumulate else torch.tensor([1, 9, 4, 49, 0, 30, 2])
    got = codec.dequantize_rows_(out.clone(), slots, payload, scales, 0.5, accumulate)
    torch.testing.assert_close(got, codec.dequantize_rows_reference(out, slots, payload, scales, 0.5, accumulate))


@pytest.mark.parametrize("k", [1, 5, 24])
@pytest.mark.parametrize("index", [INDEX, None])
def test_topk_matches_reference(k, index):
    x = table()
    x[5] = torch.arange(24.0)  # no ties in a row except the zero row
    values, channels = codec.topk_rows(x, index, k)
    ref_values, ref_channels = codec.topk_rows_reference(x, index, k)
    rows = [i for i, r in enumerate(index.tolist() if index is not None else range(40))]
    assert channels.dtype == torch.int32
    assert torch.equal(channels[rows], ref_channels[rows]) and torch.equal(values, ref_values)
    assert torch.all(channels[:, 1:] > channels[:, :-1]) if k > 1 else True


def test_topk_ties_prefer_lower_channels():
    x = torch.tensor([[1.0, -2.0, 2.0, 0.5, -2.0]])
    values, channels = codec.topk_rows(x, None, 2)
    assert channels.tolist() == [[1, 2]] and values.tolist() == [[-2.0, 2.0]]


@pytest.mark.parametrize("accumulate", [False, True])
def test_channel_gather_and_scatter_match_reference(accumulate):
    x = table()
    _, channels = codec.topk_rows(x, INDEX, 6)
    assert torch.equal(codec.gather_channels(x, INDEX, channels), codec.gather_channels_reference(x, INDEX, channels))
    values = torch.randn(7, 6)
    slots = INDEX if accumulate else torch.tensor([1, 9, 4, 39, 0, 30, 2])
    out = torch.randn(40, 24)
    got = codec.scatter_channels_(out.clone(), slots, values, channels, 2.0, accumulate)
    torch.testing.assert_close(got, codec.scatter_channels_reference(out, slots, values, channels, 2.0, accumulate))


def test_delta_select_matches_reference():
    x = table()
    index = torch.tensor([3, 7, 5, 39, 0, 12])
    held = torch.full((6, 24), float("nan"))
    first = codec.delta_select_(held, x, index, 0.1)
    assert first.tolist() == list(range(6)) and torch.equal(held, x[index])  # never sent: every row goes
    assert codec.delta_select_(held, x, index, 0.0).numel() == 0  # nothing moved
    y = x.clone()
    y[7] *= 1.05  # relative change 0.05
    y[39] *= 1.5  # relative change 0.5
    ref_pos, ref_held = codec.delta_select_reference(held, y, index, 0.1)
    got = codec.delta_select_(held, y, index, 0.1)
    assert got.tolist() == ref_pos.tolist() == [3]
    assert torch.equal(held, ref_held)
    assert codec.delta_select_(held, y, index, 0.0).tolist() == [1]  # threshold 0: any change


def test_channel_dtype_and_topk_count():
    assert codec.channel_dtype(16) == torch.uint8 and codec.channel_dtype(256) == torch.uint8
    assert codec.channel_dtype(257) == torch.int16 and codec.channel_dtype(40000) == torch.int32
    assert codec.topk_count(16, 0.25) == 4 and codec.topk_count(7, 0.01) == 1 and codec.topk_count(7, 1.0) == 7


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x: codec.quantize_rows(x, None, torch.int32), r"quantize_rows: `dtype` must be float16, bfloat16 or int8"),
        (lambda x: codec.quantize_rows(x, torch.tensor([40]), torch.int8), r"quantize_rows: `index` entries must be in \[0, 40\) \(got 40"),
        (lambda x: codec.quantize_rows(x.half(), None, torch.int8), r"quantize_rows: `src` must be float32 or float64"),
        (lambda x: codec.topk_rows(x, None, 25), r"topk_rows: `k` must be in \[1, 24\] \(got 25\)"),
        (lambda x: codec.scatter_channels_(x, None, torch.randn(2, 2), torch.tensor([[0, 30], [1, 2]], dtype=torch.int32)),
         r"scatter_channels_: `channels` entries must be in \[0, 24\) \(got 30\)"),
        (lambda x: codec.dequantize_rows_(x, None, torch.zeros(2, 3, dtype=torch.int8), torch.ones(2)),
         r"dequantize_rows_: `payload` must have shape \[2, 24\]"),
        (lambda x: codec.delta_select_(torch.zeros(2, 24), x, torch.tensor([0, 1]), -1.0), r"delta_select_: `threshold` must be >= 0"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(RuntimeError, match=match):
        call(table())


def test_opcheck():
    x = table()
    payload, scales = codec.quantize_rows(x, INDEX, torch.int8)
    _, channels = codec.topk_rows(x, INDEX, 4)
    torch.library.opcheck(torch.ops.gnnpart.quantize_rows, (x, INDEX, torch.int8, True, 3))
    torch.library.opcheck(torch.ops.gnnpart.quantize_rows, (x, None, torch.bfloat16, False, 0))
    torch.library.opcheck(torch.ops.gnnpart.dequantize_rows_, (x.clone(), INDEX, payload, scales, 2.0, True))
    torch.library.opcheck(torch.ops.gnnpart.topk_rows, (x, INDEX, 4))
    torch.library.opcheck(torch.ops.gnnpart.gather_channels, (x, INDEX, channels))
    torch.library.opcheck(torch.ops.gnnpart.scatter_channels_, (x.clone(), INDEX, torch.randn(7, 4), channels, 1.0, True))
    held = torch.full((7, 24), float("nan"))
    torch.library.opcheck(torch.ops.gnnpart.delta_select_, (held, x, INDEX, 0.1),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the device machine)")
def test_cuda_matches_cpu():
    dev = torch.device("cuda")
    x = table()
    xi, ii = x.to(dev), INDEX.to(dev)
    for qtype in (torch.float16, torch.bfloat16, torch.int8):
        for stochastic in (False, True):
            p, s = codec.quantize_rows(x, INDEX, qtype, stochastic, 5)
            pc, sc = codec.quantize_rows(xi, ii, qtype, stochastic, 5)
            assert torch.equal(s, sc.cpu()) and (p.float() - pc.cpu().float()).abs().max() <= (1 if qtype == torch.int8 else 2**-9)
            out = codec.dequantize_rows_(torch.zeros(40, 24), INDEX, p, s, 1.0, True)
            outc = codec.dequantize_rows_(torch.zeros(40, 24, device=dev), ii, p.to(dev), s.to(dev), 1.0, True)
            torch.testing.assert_close(outc.cpu(), out)
    v, c = codec.topk_rows(x, INDEX, 5)
    vc, cc = codec.topk_rows(xi, ii, 5)
    assert torch.equal(c, cc.cpu()) and torch.equal(v, vc.cpu())
    assert torch.equal(codec.gather_channels(xi, ii, cc).cpu(), codec.gather_channels(x, INDEX, c))
    torch.testing.assert_close(codec.scatter_channels_(torch.zeros(40, 24, device=dev), ii, vc, cc, 1.0, True).cpu(),
                               codec.scatter_channels_(torch.zeros(40, 24), INDEX, v, c, 1.0, True))
    held, heldc = torch.full((7, 24), float("nan")), torch.full((7, 24), float("nan"), device=dev)
    y = x * 1.2
    for src in (x, y):
        pos = codec.delta_select_(held, src, INDEX, 0.1)
        posc = codec.delta_select_(heldc, src.to(dev), ii, 0.1)
        assert torch.equal(pos, posc.cpu()) and torch.equal(held, heldc.cpu())

"""The constant-velocity box Kalman filter (linking/kalman.py)."""

import numpy as np

from celltrace.linking.kalman import BoxKalmanFilter, box_to_measurement, measurement_to_box


def test_box_measurement_round_trip():
    box = np.array([10.0, 20.0, 30.0, 60.0])
    z = box_to_measurement(box)
    assert np.allclose(z, [20, 40, 20, 40])
    assert np.allclose(measurement_to_box(z), box)


def test_learns_constant_velocity_and_predicts_ahead():
    v = np.array([3.0, -2.0])
    box0 = np.array([100.0, 100.0, 120.0, 130.0])
    kf = BoxKalmanFilter(box0)
    for t in range(1, 40):
        kf.predict()
        kf.update(box0 + np.r_[v, v] * t)
    assert np.allclose(kf.velocity, v, atol=0.05)
    pred = kf.predict()  # frame 40
    assert np.allclose(pred, box0 + np.r_[v, v] * 40, atol=0.3)
    # with no updates the filter keeps moving at that velocity
    pred2 = kf.predict()
    assert np.allclose(pred2 - pred, np.r_[v, v], atol=0.1)


def test_update_pulls_towards_measurement_and_shrinks_uncertainty():
    kf = BoxKalmanFilter([0, 0, 10, 10])
    kf.predict()
    p_before = np.trace(kf.P[:4, :4])
    out = kf.update([4, 0, 14, 10])
    assert 0 < out[0] < 4  # between the prediction (0) and the measurement (4)
    assert np.trace(kf.P[:4, :4]) < p_before


def test_static_box_stays_put():
    kf = BoxKalmanFilter([5, 5, 25, 15])
    for _ in range(10):
        kf.predict()
        kf.update([5, 5, 25, 15])
    assert np.allclose(kf.predict(), [5, 5, 25, 15], atol=1e-3)

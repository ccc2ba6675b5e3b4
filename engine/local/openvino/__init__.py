"""The OpenVINO path for the CPU: SD 1.x/2.x models converted once with OpenVINO's own
converter, int8 weights through NNCF, run through diffusers' pipelines over compiled static
shapes. Only ``options`` is imported without the extra; the rest needs torch and OpenVINO."""

"""Model exporters: core's ONNX exporter."""

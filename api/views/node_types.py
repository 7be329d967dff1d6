"""The node-type registry (`GET /api/node-types/`): the editor builds its palette and forms from it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.nodes import describe_node_types


class NodeTypeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    label = serializers.CharField()
    group = serializers.ChoiceField(choices=["trigger", "logic", "action", "flow"])
    description = serializers.CharField()
    is_trigger = serializers.BooleanField()
    side_effects = serializers.BooleanField()
    ports = serializers.ListField(child=serializers.CharField())
    dynamic_ports = serializers.DictField(allow_null=True)
    accepts_many_inputs = serializers.BooleanField(help_text="True for `merge`: its input joins several branches.")
    config_schema = serializers.DictField()


class NodeTypeListView(APIView):
    @extend_schema(responses={200: NodeTypeSerializer(many=True)}, tags=["node-types"])
    def get(self, request: Request) -> Response:
        return Response(describe_node_types())

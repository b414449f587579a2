"""OPC UA driver on asyncua: subscriptions, status codes and timestamps, reconnection.

Any OPC UA server works: the node ids, security and identity come from the plant
configuration. Data-change notifications call the subscriber synchronously from
asyncua's dispatch task, so an interlock sees a value without extra hops. On a lost
connection (asyncua's supervisor sees the socket close, or its watchdog probe fail)
listeners are told at once and the driver reconnects with exponential backoff,
re-creating its subscriptions. The publishing interval asked for may be raised by
the server (node-opcua grants ≥ 50 ms); we use what is granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.crypto import security_policies
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaError, UaStatusCodeError
from cryptography import x509

from equipment.config import Endpoint, TagSpec
from equipment.drivers.base import ConnectionListener, Quality, TagValue, Value, ValueCallback, aware
from equipment.errors import CommunicationLost, DriverError

log = logging.getLogger(__name__)
_FAILURES = (OSError, asyncio.TimeoutError, ConnectionError, UaError)
_VARIANTS = {"float": ua.VariantType.Double, "bool": ua.VariantType.Boolean, "int": ua.VariantType.Int32}


def to_tag_value(tag: str, data: ua.DataValue, spec: TagSpec | None = None) -> TagValue:
    """A TagValue from an OPC UA DataValue, keeping status and timestamps (scaled as ``spec`` says)."""
    status = data.StatusCode or ua.StatusCode()
    if status.is_good():
        quality = Quality.GOOD
    elif status.is_bad():
        quality = Quality.BAD
    else:
        quality = Quality.UNCERTAIN
    value = data.Value.Value if data.Value is not None else None
    if spec is not None and spec.scaled and isinstance(value, int | float) and not isinstance(value, bool):
        value = value * spec.scale + spec.offset
    return TagValue(tag, value, quality, status.name, aware(data.SourceTimestamp), aware(data.ServerTimestamp))


def _application_uri(certificate: bytes) -> str | None:
    try:
        cert = x509.load_der_x509_certificate(certificate)
    except ValueError:
        cert = x509.load_pem_x509_certificate(certificate)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


class _Handler:
    """One subscription's notifications, fanned out to every logical tag of the node."""

    def __init__(self, driver: OpcUaDriver, callback: ValueCallback, tags: Sequence[str]) -> None:
        self.driver = driver
        self.callback = callback
        self.tags = frozenset(tags)

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.driver.last_alive = time.monotonic()
        for tag in self.driver.tags_of(node):
            if tag in self.tags:
                self.callback(to_tag_value(tag, data.monitored_item.Value, self.driver.specs[tag]))

    def status_change_notification(self, status: Any) -> None:
        log.warning("%s: subscription status changed: %s", self.driver.name, status)


class OpcUaDriver:
    """An OPC UA client for one endpoint of the plant configuration."""

    def __init__(
        self, endpoint: Endpoint, tags: Sequence[TagSpec], *, min_backoff: float = 0.2, max_backoff: float = 1.0
    ) -> None:
        self.name = endpoint.name
        self.endpoint = endpoint
        self.specs = {t.name: t for t in tags}
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._client: Client | None = None
        self._nodes: dict[str, Node] = {}
        self._tags_by_node: dict[str, list[str]] = {}
        self._variants: dict[str, ua.VariantType] = {}
        self._subscriptions: list[tuple[list[str], ValueCallback, float]] = []
        self._listeners: list[ConnectionListener] = []
        self._connected = False
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self.last_alive = 0.0
        """``time.monotonic()`` of the last answer from the server (probe or notification)."""

    @property
    def connected(self) -> bool:
        return self._connected

    def tags_of(self, node: Node) -> list[str]:
        """Every logical tag mapped to ``node`` (several tags may share one node)."""
        return self._tags_by_node.get(node.nodeid.to_string(), [])

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        self._listeners.append(listener)

    async def connect(self) -> None:
        """Connect, resolve the nodes and re-create subscriptions; raise DriverError on failure."""
        self._closing = False
        try:
            await self._open()
        except _FAILURES as exc:
            hint = ""
            trusted = self.endpoint.security.trusted_certificates
            if trusted is not None and "BadCertificate" in str(exc):
                hint = f"; if this server is genuine, put its certificate (or its CA's) into {trusted}"
            raise DriverError(
                f"{self.name}: cannot connect to {self.endpoint.url}: {exc or type(exc).__name__}{hint}"
            ) from exc
        self._announce(True, "connected")

    async def _open(self) -> None:
        ep = self.endpoint
        # Our own probe (below) watches the link with a missed-probe count; asyncua's single-probe
        # watchdog stays as a slower backstop.
        backstop = ep.watchdog_ms * ep.watchdog_missed * 2 / 1000
        client = Client(ep.url, timeout=ep.timeout_s, watchdog_intervall=backstop)
        client.session_timeout = 600_000  # what most servers grant; asking for more only logs a warning
        if ep.publishing_interval_ms == 0:
            # A 0 ms interval publishes on every change but carries no keep-alive period, so
            # asyncua's stale-subscription check would recreate it after each idle second.
            # Liveness is watched by the watchdog probe (watchdog_ms) instead.
            client._stale_check_margin = float("inf")
        await self._apply_security(client)
        if ep.username:
            client.set_user(ep.username)
            client.set_password(ep.password() or "")
        client.connection_lost_callback = lambda exc: self._on_connection_lost(exc, client)
        try:
            await client.connect()
        except BaseException:
            with contextlib.suppress(*_FAILURES):
                await client.disconnect()
            raise
        self._client = client
        self.last_alive = time.monotonic()
        self._nodes = {tag: client.get_node(spec.node) for tag, spec in self.specs.items() if spec.node}
        self._tags_by_node = {}
        for tag, node in self._nodes.items():
            self._tags_by_node.setdefault(node.nodeid.to_string(), []).append(tag)
        for tags, callback, interval in self._subscriptions:
            await self._create_subscription(tags, callback, interval)
        self._probe = asyncio.create_task(self._probe_loop(client))

    async def _probe_loop(self, client: Client) -> None:
        """Read the server state every ``watchdog_ms``; ``watchdog_missed`` misses in a row = link lost.

        One slow answer on a loaded machine is not a lost link; a cut link (no FIN, no RST)
        is found after about ``watchdog_ms × watchdog_missed``.
        """
        period = self.endpoint.watchdog_ms / 1000
        missed = 0
        while client is self._client:
            started = time.monotonic()
            try:
                await asyncio.wait_for(client.nodes.server_state.read_value(), timeout=period)
                missed = 0
                self.last_alive = time.monotonic()
            except (*_FAILURES, RuntimeError) as exc:
                missed += 1
                log.info("%s: probe %d unanswered (%s)", self.name, missed, exc or type(exc).__name__)
                if missed >= self.endpoint.watchdog_missed:
                    lost = CommunicationLost(
                        f"{missed} probes in a row unanswered within {self.endpoint.watchdog_ms:g} ms"
                    )
                    await self._on_connection_lost(lost, client)
                    return
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    async def _apply_security(self, client: Client) -> None:
        sec = self.endpoint.security
        if sec.mode == "None" or sec.certificate is None or sec.private_key is None:
            return
        uri = _application_uri(sec.certificate.read_bytes())
        if uri:
            client.application_uri = uri  # servers check it against the certificate
        mode = ua.MessageSecurityMode.Sign if sec.mode == "Sign" else ua.MessageSecurityMode.SignAndEncrypt
        await client.set_security(
            security_policies.SecurityPolicyBasic256Sha256,
            certificate=str(sec.certificate),
            private_key=str(sec.private_key),
            server_certificate=str(sec.server_certificate) if sec.server_certificate else None,
            mode=mode,
        )
        if sec.trusted_certificates is not None:
            # asyncua's trust list: time range, application URI, key usage, trusted, not revoked.
            crls = [sec.revocation_lists] if sec.revocation_lists is not None else []
            store = TrustStore([sec.trusted_certificates], crls)
            await store.load()
            options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_SERVER
            client.certificate_validator = CertificateValidator(options, store)

    async def _create_subscription(self, tags: list[str], callback: ValueCallback, interval: float) -> None:
        assert self._client is not None
        # One monitored item per node; the handler fans a notification out to every tag of it.
        nodes = list({node.nodeid.to_string(): node for node in (self._node(tag) for tag in tags)}.values())
        sub = await self._client.create_subscription(interval, _Handler(self, callback, tags))
        await sub.subscribe_data_change(nodes, sampling_interval=ua.Double(0.0))

    def _node(self, tag: str) -> Node:
        try:
            return self._nodes[tag]
        except KeyError:
            raise DriverError(f"{self.name}: tag {tag!r} has no OPC UA node on this endpoint") from None

    async def read(self, tags: Sequence[str]) -> dict[str, TagValue]:
        client = self._require_client()
        nodes = [self._node(tag) for tag in tags]
        try:
            values = await client.uaclient.read_attributes([n.nodeid for n in nodes], AttributeIds.Value)
        except _FAILURES as exc:
            raise CommunicationLost(f"{self.name}: read failed: {exc or type(exc).__name__}") from exc
        self.last_alive = time.monotonic()
        return {tag: to_tag_value(tag, dv, self.specs[tag]) for tag, dv in zip(tags, values, strict=True)}

    async def write(self, tag: str, value: Value) -> None:
        node = self._node(tag)
        self._require_client()
        if not self.specs[tag].writable:
            raise DriverError(f"{tag} is not writable in the plant configuration")
        variant = await self._variant_type(tag, node)
        spec = self.specs[tag]
        if spec.scaled and not isinstance(value, bool):
            value = (float(value) - spec.offset) / spec.scale
        try:
            await node.write_value(ua.DataValue(ua.Variant(value, variant)))
        except UaStatusCodeError as exc:
            raise DriverError(f"{self.name}: the server refused writing {value!r} to {tag}: {exc}") from exc
        except _FAILURES as exc:
            raise CommunicationLost(f"{self.name}: write to {tag} failed: {exc or type(exc).__name__}") from exc

    async def _variant_type(self, tag: str, node: Node) -> ua.VariantType:
        if tag not in self._variants:
            try:
                self._variants[tag] = await node.read_data_type_as_variant_type()
            except _FAILURES:
                self._variants[tag] = _VARIANTS[self.specs[tag].type]
        return self._variants[tag]

    async def subscribe(
        self, tags: Sequence[str], callback: ValueCallback, *, interval_ms: float | None = None
    ) -> None:
        interval = self.endpoint.publishing_interval_ms if interval_ms is None else interval_ms
        self._subscriptions.append((list(tags), callback, interval))
        if self._client is not None and self._connected:
            await self._create_subscription(list(tags), callback, interval)

    def _require_client(self) -> Client:
        if self._client is None or not self._connected:
            raise CommunicationLost(f"{self.name}: not connected to {self.endpoint.url}")
        return self._client

    async def _on_connection_lost(self, exc: Exception, client: Client | None = None) -> None:
        if self._closing or (client is not None and client is not self._client) or not self._connected:
            return  # an old client's late callback, or a loss already announced
        self._announce(False, f"connection lost: {exc or type(exc).__name__}")
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = self._min_backoff
        await self._drop_client()
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._open()
            except _FAILURES as exc:
                log.info("%s: reconnect failed (%s); next try in %.1f s", self.name, exc, delay)
                await self._drop_client()
                delay = min(delay * 2, self._max_backoff)
                continue
            self._announce(True, "reconnected")
            return

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        probe, self._probe = self._probe, None
        if probe is not None and probe is not asyncio.current_task():
            probe.cancel()
        if client is not None:
            try:
                with contextlib.suppress(*_FAILURES, RuntimeError):
                    await asyncio.wait_for(client.disconnect(), timeout=1.0)
            finally:
                # A cut link never answers the goodbye: the timeout cancels disconnect() before it
                # reaches the socket, which stayed open until the garbage collector found it (one
                # descriptor per lost link). Close it here; the loop closes the descriptor on its next turn.
                client.disconnect_socket()
                await asyncio.sleep(0)

    def _announce(self, connected: bool, reason: str) -> None:
        self._connected = connected
        for listener in list(self._listeners):
            listener(self.name, connected, reason)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        self._connected = False
        await self._drop_client()

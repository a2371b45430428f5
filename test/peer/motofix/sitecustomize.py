"""Emulator gap fix loaded into moto_server by peer.StartMoto (PYTHONPATH).

moto reports a Classic listener's front-end protocol as its instance
protocol: HTTPS:443 -> HTTP:81 reads back as HTTPS -> HTTPS. AWS keeps the
InstanceProtocol it was given, and elbguard's engine decides on it (it never
converts a listener whose back end is HTTPS or SSL), so the test emulator
keeps it too. Test machinery only; the product never sees this file.
"""

try:
    from moto.elb import models as _models
except Exception:  # not moto_server, or another moto layout: change nothing
    _models = None


def _instance_protocol(self):
    return getattr(self, "_elbguard_instance_protocol", None) or self.protocol


def _keep(balancer, ports):
    for port in ports or []:
        proto = port.get("InstanceProtocol") or port.get("instance_protocol")
        lb_port = port.get("LoadBalancerPort") or port.get("load_balancer_port")
        if not proto:
            continue
        for listener in balancer.listeners:
            if str(listener.load_balancer_port) == str(lb_port) and not hasattr(listener, "_elbguard_instance_protocol"):
                listener._elbguard_instance_protocol = str(proto).upper()


if _models is not None and hasattr(_models, "FakeListener") and hasattr(_models, "ELBBackend"):
    _models.FakeListener.instance_protocol = property(_instance_protocol)
    _create = _models.ELBBackend.create_load_balancer
    _add = _models.ELBBackend.create_load_balancer_listeners

    def create_load_balancer(self, *args, **kwargs):
        balancer = _create(self, *args, **kwargs)
        _keep(balancer, kwargs.get("ports", args[2] if len(args) > 2 else None))
        return balancer

    def create_load_balancer_listeners(self, name, ports):
        balancer = _add(self, name, ports)
        if balancer is not None:
            _keep(balancer, ports)
        return balancer

    _models.ELBBackend.create_load_balancer = create_load_balancer
    _models.ELBBackend.create_load_balancer_listeners = create_load_balancer_listeners

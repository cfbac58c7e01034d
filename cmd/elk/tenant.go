package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/orchestrator/tenant"
)

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Record, list, show and remove tenants",
		Long: `A tenant is an end user of the platform: a name (1-40 characters of a-z, 0-9
and '-'), the filters that say which flows are its own (networks, VLANs,
agents; a filter may be scoped to one agent or VLAN so that two tenants with
the same private range behind different agents are told apart), and what its
store keeps. Tenants are kept, versioned, in the server's state.

This version records tenants; deploying a tenant's Elasticsearch and Kibana
and routing its flows there (onboarding) are not built yet.`,
	}
	cmd.AddCommand(newTenantAddCmd(), newTenantListCmd(), newTenantShowCmd(), newTenantRemoveCmd())
	return cmd
}

func newTenantAddCmd() *cobra.Command {
	var (
		cidrs, agents         []string
		vlans                 []int
		scopeAgent, retention string
		store                 string
		scopeVLAN             int
		quota                 float64
	)
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Record a tenant",
		Example: `  elk tenant add acme --cidr 10.1.0.0/16 --cidr 2001:db8:1::/48 --retention 7d
  elk tenant add lab-a --cidr 10.0.0.0/8 --scope-agent 192.0.2.1 --store dedicated`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := tenant.Tenant{Name: args[0], Store: store, QuotaFlowsPerSecond: quota}
			var f tenant.Filter
			var errs []error
			for _, c := range cidrs {
				p, err := tenant.ParsePrefix(c)
				if err != nil {
					errs = append(errs, fmt.Errorf("--cidr: %w", err))
				}
				f.Networks = append(f.Networks, p)
			}
			for _, a := range agents {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					errs = append(errs, fmt.Errorf("--agent %q: not an address", a))
				}
				f.Agents = append(f.Agents, ip)
			}
			f.VLANs = vlans
			if scopeAgent != "" || scopeVLAN != 0 {
				f.Scope = &tenant.Scope{VLAN: scopeVLAN}
				if scopeAgent != "" {
					ip, err := netip.ParseAddr(scopeAgent)
					if err != nil {
						errs = append(errs, fmt.Errorf("--scope-agent %q: not an address", scopeAgent))
					}
					f.Scope.Agent = ip
				}
			}
			if retention != "" {
				days, err := tenant.ParseRetention(retention)
				if err != nil {
					errs = append(errs, err)
				}
				t.RetentionDays = days
			}
			t.Filters = []tenant.Filter{f}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			if err := t.Validate(); err != nil {
				return err
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			rec, err := c.CreateTenant(cmd.Context(), t)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s recorded (version %d)\n", rec.Tenant.Name, rec.Version)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&cidrs, "cidr", nil, "network of the tenant, source or destination (repeatable)")
	fl.IntSliceVar(&vlans, "vlan", nil, "VLAN of the tenant (repeatable)")
	fl.StringArrayVar(&agents, "agent", nil, "agent whose every flow is the tenant's (repeatable)")
	fl.StringVar(&scopeAgent, "scope-agent", "", "count the networks only in flows of this agent")
	fl.IntVar(&scopeVLAN, "scope-vlan", 0, "count the networks only in flows of this VLAN")
	fl.StringVar(&retention, "retention", "", "days of indices to keep, e.g. 7d or 2w")
	fl.StringVar(&store, "store", tenant.StoreShared, "shared (indices in a shared Elasticsearch) or dedicated (an Elasticsearch of its own)")
	fl.Float64Var(&quota, "quota", 0, "estimated flows/s beyond which its copies are sampled down (0: none)")
	return cmd
}

func newTenantListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the tenants", Args: cobra.NoArgs}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := apiClient()
		if err != nil {
			return err
		}
		list, err := c.Tenants(cmd.Context())
		if err != nil {
			return err
		}
		if *out == "json" {
			return writeJSONOut(cmd.OutOrStdout(), list)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTORE\tRETENTION\tFILTERS\tVERSION\tCHANGED BY")
		for _, r := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.Tenant.Name, storeOf(r.Tenant), retentionOf(r.Tenant), filtersText(r.Tenant), r.Version, r.Author)
		}
		return tw.Flush()
	}
	return cmd
}

func newTenantShowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show a tenant and its versions", Args: cobra.ExactArgs(1)}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := apiClient()
		if err != nil {
			return err
		}
		r, err := c.Tenant(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *out == "json" {
			return writeJSONOut(cmd.OutOrStdout(), r)
		}
		printTenant(cmd.OutOrStdout(), r)
		return nil
	}
	return cmd
}

func newTenantRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a tenant's record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteTenant(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tenant %s removed\n", args[0])
			return nil
		},
	}
}

func printTenant(w io.Writer, r *tenant.Record) {
	t := r.Tenant
	fmt.Fprintf(w, "%s  version %d, changed by %s at %s\n", t.Name, r.Version, r.Author, r.Changed.Format("2006-01-02 15:04:05Z"))
	fmt.Fprintf(w, "  store %s, retention %s", storeOf(t), retentionOf(t))
	if t.QuotaFlowsPerSecond > 0 {
		fmt.Fprintf(w, ", quota %g flows/s", t.QuotaFlowsPerSecond)
	}
	fmt.Fprintln(w)
	for i, f := range t.Filters {
		fmt.Fprintf(w, "  filter %d: %s\n", i+1, filterText(f))
	}
	for _, v := range r.History {
		fmt.Fprintf(w, "  version %d by %s at %s\n", v.Version, v.Author, v.Changed.Format("2006-01-02 15:04:05Z"))
	}
}

func storeOf(t tenant.Tenant) string {
	if t.Store == "" {
		return tenant.StoreShared
	}
	return t.Store
}

func retentionOf(t tenant.Tenant) string {
	if t.RetentionDays == 0 {
		return "default"
	}
	return fmt.Sprintf("%dd", t.RetentionDays)
}

func filtersText(t tenant.Tenant) string {
	parts := make([]string, len(t.Filters))
	for i, f := range t.Filters {
		parts[i] = filterText(f)
	}
	return strings.Join(parts, "; ")
}

func filterText(f tenant.Filter) string {
	var parts []string
	for _, p := range f.Networks {
		parts = append(parts, p.String())
	}
	for _, p := range f.Sources {
		parts = append(parts, "src "+p.String())
	}
	for _, p := range f.Destinations {
		parts = append(parts, "dst "+p.String())
	}
	for _, v := range f.VLANs {
		parts = append(parts, fmt.Sprintf("vlan %d", v))
	}
	for _, a := range f.Agents {
		parts = append(parts, "agent "+a.String())
	}
	for _, in := range f.Interfaces {
		parts = append(parts, fmt.Sprintf("agent %s if %v", in.Agent, in.IfIndex))
	}
	s := strings.Join(parts, ", ")
	if sc := f.Scope; sc != nil {
		if sc.Agent.IsValid() {
			s += " (agent " + sc.Agent.String() + " only)"
		} else {
			s += fmt.Sprintf(" (vlan %d only)", sc.VLAN)
		}
	}
	return s
}

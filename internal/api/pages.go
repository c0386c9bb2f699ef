package api

import (
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// pageOf reads page and per_page and answers them with the store page
// they ask for, so a list reads only that page.
func pageOf(c echo.Context) (page, perPage int, p tokens.Page, err error) {
	page, perPage, err = pageParams(c)
	if err != nil {
		return 0, 0, tokens.Page{}, err
	}
	return page, perPage, tokens.Page{Offset: (page - 1) * perPage, Limit: perPage}, nil
}

// servePage answers the page asked (pageOf) of a list that read pages,
// with GitLab's headers: the tail of every paged list handler, whose
// owner and filters each parses first.
func servePage[T, J any](c echo.Context, base *url.URL, read func(tokens.Page) ([]T, int, error), view func(T) J) error {
	page, perPage, p, err := pageOf(c)
	if err != nil {
		return err
	}
	items, total, err := read(p)
	if err != nil {
		return err
	}
	return writePage(c, base, items, total, page, perPage, view)
}

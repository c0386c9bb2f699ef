package api

import (
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
